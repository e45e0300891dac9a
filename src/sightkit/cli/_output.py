"""Console helpers shared by the CLI commands: status on stderr, results on stdout."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Callable

from rich.console import Console

err_console = Console(stderr=True, highlight=False)


def status(message: str) -> None:
    """A status line on stderr (keeps stdout clean for ``--json``): never wrapped, never read as markup."""
    err_console.print(message, style="dim", markup=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (images/s and ETA); yields ``advance(n)``.

    Shown only when stderr is a terminal: redirected to a file it would leave blank lines.
    """
    if not enabled or not err_console.is_terminal:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(description, total=total, rate="")

        def advance(n: int) -> None:
            progress.advance(task, n)
            speed = progress.tasks[0].speed
            if speed:
                progress.update(task, rate=f"{speed:,.0f} img/s")

        yield advance
