"""Which options of a command the user gave (``--resume`` keeps the rest), and the command line to record."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import typer


def was_given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` came from the command line or the environment, not its default.

    Compared by name: Typer vendors its own copy of click, whose ``ParameterSource`` enum is not
    ``click.core``'s, so an identity test against the latter is always true.

    Example:
        >>> # inside a command: if was_given(ctx, "model"): ...
    """
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def given_options(ctx: typer.Context, names: Iterable[str]) -> dict[str, Any]:
    """The values of the options in ``names`` that the user gave (see :func:`was_given`).

    Example:
        >>> # Inpainter.train(data, **given_options(ctx, _CONFIG_OPTIONS))
    """
    return {name: ctx.params[name] for name in names if was_given(ctx, name)}


def command_line(ctx: typer.Context, fallback: Sequence[str] = ()) -> str:
    """The command as typed, for a run's record: ``sightkit GROUP COMMAND ARGS...``.

    The arguments are what follows the command's name in ``sys.argv`` (``fallback`` when it is
    not there, e.g. when called from Python).

    Example:
        >>> # sightkit detect train data --epochs 5  ->  "sightkit detect train data --epochs 5"
    """
    words = ctx.command_path.split()[1:]  # the group and command, without the program's own name
    name = words[-1] if words else ""
    arguments = sys.argv[sys.argv.index(name) + 1:] if name in sys.argv else list(fallback)
    return " ".join(["sightkit", *words]) + " " + shlex.join(arguments)


# Help of the multi-process options every train command shares (see sightkit.engine.distributed).
DEVICES_HELP = ("Processes per node (one per GPU, or CPU processes); above 1 trains with DDP and needs --out. "
                "--batch-size stays the global batch.")
NUM_NODES_HELP = "Machines of a multi-node run (torchrun or SLURM start the processes)."
STRATEGY_HELP = "auto or ddp (gloo on the CPU, NCCL on GPUs)."
SYNC_BATCHNORM_HELP = ("Batch-norm statistics over the global batch, all processes together (SyncBatchNorm; GPUs "
                       "only).")
