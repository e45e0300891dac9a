"""Help and usage-error formatting shared by every command.

Typer 0.2x prints its own type labels in ``--help`` (``<bool>`` beside every flag,
``<list[str]>``, ``<path>``); :func:`use_readable_metavars` restores click's labels
(``INTEGER``, ``PATH``, ``[table|json|csv]``, nothing beside a flag).
:func:`usage_error_line` turns a click usage error (a bad choice, a number out of range,
a missing argument) into the one ``error:`` line every sightkit error uses.
"""

from __future__ import annotations

from typing import Any


def use_readable_metavars() -> None:
    """Plain metavars in ``--help``: ``INTEGER``, ``PATH``, ``[table|json|csv]``, none beside a flag.

    Typer 0.2x labels options with Python types (``<bool>``, ``<list[str]>``) and required
    arguments as ``{DATA}`` in the usage line; older Typer versions print click's metavars
    and are left alone. Idempotent.

    Example:
        >>> use_readable_metavars()  # before the app renders its help
    """
    from typer import core

    option, argument = core.TyperOption, core.TyperArgument
    if getattr(option, "_sightkit_metavars", False) or not hasattr(option, "display_type"):
        return

    def option_label(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        if self.metavar is not None:
            return self.metavar
        label = self.display_type(ctx).strip("<>")
        repeated = label.startswith("list[")
        label = label.removeprefix("list[").removesuffix("]").removesuffix(" range")
        label = f"[{label}]" if "|" in label else _TYPE_NAMES.get(label, label.upper())
        return label + ("..." if repeated else "")

    def argument_usage(self: Any) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    option.display_type_rich = option_label
    argument.display_type_rich = lambda self, ctx: None  # the argument's name says what it is
    if hasattr(argument, "_usage_display_name"):
        argument._usage_display_name = argument_usage
    option._sightkit_metavars = True


_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH", "file": "PATH",
               "directory": "FOLDER"}


def is_help_shown(exc: BaseException) -> bool:
    """True for click's "no arguments, help shown instead" signal (click's and Typer's own copy)."""
    return any(c.__name__ == "NoArgsIsHelpError" for c in type(exc).__mro__)


def usage_error_line(exc: BaseException) -> str | None:
    """One line for a click usage error (a bad choice, a number out of range, a missing argument), else None.

    Matches click's ``UsageError`` and the copy Typer 0.2x vendors, by class name.

    Example:
        >>> usage_error_line(click.BadParameter("0 is not in the range x>=1.", param_hint="'-k'"))  # doctest: +SKIP
        "Invalid value for '-k': 0 is not in the range x>=1. (see 'sightkit classify predict --help')"
    """
    if not any(c.__name__ == "UsageError" for c in type(exc).__mro__):
        return None
    message = " ".join(exc.format_message().split()).replace("Value error, ", "")  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.command_path and "--help" not in message:
        message += f" (see '{ctx.command_path} --help')"
    return message
