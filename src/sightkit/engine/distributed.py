"""Multi-process training through Lightning's DDP: ranks, the global batch and rank-0-only work.

sightkit never launches processes itself. With ``--devices N --num-nodes M --strategy ddp``
Lightning starts the N processes of a node (re-running the same command with ``LOCAL_RANK``
set), or they are started by ``torchrun`` (``RANK``/``WORLD_SIZE``) or by SLURM's ``srun``
(``SLURM_PROCID``), which Lightning detects. Every process runs the whole command; this module
tells them apart before and after the process group exists:

* :func:`launch_rank` reads the rank from the environment, before ``trainer.fit`` (to print
  status lines and write run files once);
* :func:`global_batch_share` splits ``--batch-size`` (the *global* batch) over the processes,
  so a run steps the same number of times per epoch whatever the number of processes, and a
  checkpoint resumes on another number of processes with the same learning-rate schedule;
* :func:`on_rank_zero` runs the work after training (calibration, report, bundle) on rank 0
  only and hands its result to every rank.

Every trainable task shares the same options (:class:`DistributedOptions`, a pydantic mixin of
its config), checks them with :func:`check_distributed_options` before reading data, passes
:func:`trainer_options` to the Trainer, silences the other ranks with :func:`rank_zero_status`
and creates its run folder with :func:`run_folder`.

Example:
    >>> batch = global_batch_share(64, trainer.world_size)  # doctest: +SKIP
    >>> result = on_rank_zero(trainer, lambda: write_bundle(...))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from sightkit.errors import ConfigError, SightkitError

STRATEGIES = ("auto", "ddp")
"""``--strategy`` values: ``auto`` (one process per device: DDP when there are several) or ``ddp``."""

# Environment variables that hold the global rank, in the order Lightning's own helper reads them.
_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")

T = TypeVar("T")

SYNC_BATCHNORM_HELP = ("batch-norm statistics over the whole global batch, all processes together (Lightning's "
                       "sync_batchnorm; GPUs only)")


class DistributedOptions(BaseModel):
    """The multi-process options of a task's training config (mixed into its pydantic model).

    Example:
        >>> class Config(DistributedOptions):
        ...     epochs: int = 1
        >>> Config(devices=2).strategy
        'auto'
    """

    devices: int = Field(1, ge=1, description="processes (GPUs, or CPU processes) per node; DDP when above 1")
    num_nodes: int = Field(1, ge=1, description="machines of a multi-node DDP run")
    strategy: Literal["auto", "ddp"] = Field("auto", description="Lightning strategy; ddp also for torchrun/SLURM")


def trainer_options(config: Any) -> dict[str, Any]:
    """The keyword arguments of :func:`~sightkit.engine.trainer.build_trainer` that ``config`` sets for DDP.

    ``sync_batchnorm`` is taken when the config has it (tasks whose models use batch norm).

    Example:
        >>> trainer_options(DistributedOptions(devices=2))
        {'devices': 2, 'num_nodes': 1, 'strategy': 'auto', 'sync_batchnorm': False}
    """
    return {"devices": config.devices, "num_nodes": config.num_nodes, "strategy": config.strategy,
            "sync_batchnorm": bool(getattr(config, "sync_batchnorm", False))}


def rank_zero_status(status: Callable[[str], None]) -> Callable[[str], None]:
    """``status`` in the process that speaks for the run (launch rank 0); a silent one in the others.

    Example:
        >>> rank_zero_status(print)("data: 10 images")  # in a plain process
        data: 10 images
    """
    return status if is_launch_rank_zero() else _silent


@contextmanager
def run_folder(run_dir: Path, *, resume: bool = False) -> Iterator[Path]:
    """Create ``run_dir``; rank 0 of a new run removes it again if training fails (see ``removed_on_failure``).

    The other processes of a DDP run only make sure it exists: they never remove what rank 0 owns.

    Example:
        >>> with run_folder(Path("runs/x")) as folder:  # doctest: +SKIP
        ...     train_into(folder)
    """
    from sightkit.core.folders import removed_on_failure

    if resume or not is_launch_rank_zero():
        run_dir.mkdir(parents=True, exist_ok=True)
        yield run_dir
        return
    with removed_on_failure(run_dir) as folder:
        yield folder


def check_sync_batchnorm(sync_batchnorm: bool, accelerator: str) -> None:
    """Refuse ``--sync-batchnorm`` on the CPU: PyTorch's ``SyncBatchNorm`` runs on GPUs only.

    Example:
        >>> check_sync_batchnorm(True, "cpu")
        Traceback (most recent call last):
        sightkit.errors.ConfigError: --sync-batchnorm: PyTorch's SyncBatchNorm runs on GPUs only; on the CPU each process keeps its own batch-norm statistics (leave the option out)
    """
    if sync_batchnorm and accelerator == "cpu":
        raise ConfigError("--sync-batchnorm: PyTorch's SyncBatchNorm runs on GPUs only; on the CPU each process "
                          "keeps its own batch-norm statistics (leave the option out)")


def launch_rank() -> int:
    """The global rank of this process as its launcher set it (0 for a plain single process).

    ``torchrun`` sets ``RANK``, SLURM sets ``SLURM_PROCID``; processes that Lightning itself
    started have ``LOCAL_RANK`` (and ``NODE_RANK`` on the other nodes), where only node 0's
    local rank 0 is global rank 0.

    Example:
        >>> launch_rank()  # in a plain process
        0
    """
    for name in _RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    local = int(os.environ.get("LOCAL_RANK", "0") or 0)
    node = int(os.environ.get("NODE_RANK", "0") or 0)
    return local if node == 0 else node * 1_000_000 + local  # any non-zero value: only "is it 0" is used


def is_launch_rank_zero() -> bool:
    """True in the process that prints results and writes run files (see :func:`launch_rank`)."""
    return launch_rank() == 0


def expected_world_size(devices: int, num_nodes: int) -> int:
    """How many processes will train: ``WORLD_SIZE`` when a launcher set it, else ``devices * num_nodes``.

    Example:
        >>> expected_world_size(2, 1)  # with no launcher environment
        2
    """
    launched = os.environ.get("WORLD_SIZE", "")
    return int(launched) if launched.isdigit() else devices * num_nodes


def check_distributed_options(devices: int, num_nodes: int, strategy: str, batch_size: int,
                              run_dir_given: bool) -> None:
    """Fail early, with the option to change, on settings that cannot train on several processes.

    Example:
        >>> check_distributed_options(2, 1, "ddp", 64, run_dir_given=False)
        Traceback (most recent call last):
        sightkit.errors.ConfigError: --devices 2: give --out RUN_DIR, so that every process writes to the same run folder
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    world = expected_world_size(devices, num_nodes)
    if world > 1 and not run_dir_given:
        raise ConfigError(f"--devices {devices}: give --out RUN_DIR, so that every process writes to the same run "
                          "folder")
    global_batch_share(batch_size, world)


def global_batch_share(batch_size: int, world_size: int) -> int:
    """Each process's batch when ``batch_size`` is the global batch of ``world_size`` processes.

    Example:
        >>> global_batch_share(64, 4)
        16
        >>> global_batch_share(10, 4)
        Traceback (most recent call last):
        sightkit.errors.ConfigError: --batch-size 10 is the global batch: it must be a multiple of the 4 processes (e.g. 8)
    """
    if batch_size % world_size:
        suggestion = max(world_size, round(batch_size / world_size) * world_size)
        raise ConfigError(f"--batch-size {batch_size} is the global batch: it must be a multiple of the "
                          f"{world_size} processes (e.g. {suggestion})")
    return batch_size // world_size


def on_rank_zero(trainer: Any, work: Callable[[], T]) -> T:
    """Run ``work`` on global rank 0 only and return its result on every rank.

    The other ranks wait for rank 0 (calibration, evaluation and the bundle take a while). If
    ``work`` fails on rank 0, it raises there and the other ranks raise a
    :class:`~sightkit.errors.SightkitError` naming rank 0's error, instead of waiting forever.

    Example:
        >>> result = on_rank_zero(trainer, lambda: save_bundle(...))  # doctest: +SKIP
    """
    if trainer.world_size == 1:
        return work()
    outcome: tuple[bool, Any] = (False, None)
    failure: BaseException | None = None
    if trainer.is_global_zero:
        try:
            outcome = (True, work())
        except BaseException as exc:  # handed to the other ranks, then raised here
            failure, outcome = exc, (False, f"{type(exc).__name__}: {exc}")
    ok, value = trainer.strategy.broadcast(outcome, src=0)
    if failure is not None:
        raise failure
    if not ok:
        raise SightkitError(f"rank 0 failed after training: {value}")
    return value


def _silent(message: str) -> None:
    """The status of the processes other than rank 0: they print nothing."""
