"""``sightkit info BUNDLE``: print what a model bundle holds."""

from __future__ import annotations

from pathlib import Path

import typer

from sightkit.cli._output import print_json


def info(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A bundle folder or .sightkit file."),
    json_out: bool = typer.Option(False, "--json", help="Print bundle.json as JSON."),
) -> None:
    """Print a bundle's task, architecture, classes, preprocessing, calibration and metrics."""
    from rich.console import Console
    from rich.table import Table

    from sightkit.core.bundle import read_meta

    meta = read_meta(bundle)
    if json_out:
        print_json(meta)
        return
    table = Table(title=str(bundle), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in meta.items():
        if key == "classes":
            shown = ", ".join(value[:20]) + (f" ... ({len(value)} classes)" if len(value) > 20 else f" ({len(value)})")
        elif isinstance(value, dict):
            shown = "\n".join(f"{k}: {_short(v)}" for k, v in value.items() if k != "config")
        else:
            shown = str(value)
        table.add_row(key, shown)
    Console().print(table)


def _short(value: object) -> object:
    """A value for one table cell: a long list (e.g. the per-epoch history) as its length."""
    return f"{len(value)} entries" if isinstance(value, list) and len(value) > 8 else value
