"""Which options of a command the user gave, for training commands whose ``--resume`` keeps the rest."""

from __future__ import annotations

from collections.abc import Iterable
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
