"""What ``sightkit face`` prints: tables readable at 80 columns, and the uncalibrated-threshold note."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sightkit.cli._output import status


def print_table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """A table on stdout; a column empty in every row is left out; long cells wrap, never cut short.

    Example:
        >>> print_table(["image", "note"], [{"image": "a.jpg", "note": ""}])   # doctest: +SKIP
    """
    from rich.console import Console
    from rich.table import Table

    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    shown = [i for i in range(len(columns)) if any(line[i] for line in cells)] or list(range(len(columns)))
    table = Table()
    for i in shown:
        table.add_column(columns[i], overflow="fold")
    for line in cells:
        table.add_row(*[line[i] for i in shown])
    Console().print(table)


def uncalibrated_note(threshold: float, gallery: Path | None) -> None:
    """One note on stderr: the threshold is dlib's default, not calibrated on the user's people."""
    where = gallery if gallery is not None else "G"
    status(f"note: threshold {threshold:g} is dlib's default, not calibrated for your people; "
           f"run 'sightkit face calibrate PEOPLE_DIR --gallery {where}'")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)
