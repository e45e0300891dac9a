"""``sightkit data audit|label-issues``: find what is wrong with a dataset before training."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from sightkit.cli._output import err_console, print_json, progress_bar, status

app = typer.Typer(help="Audit datasets and find mislabelled images.", no_args_is_help=True)

_DATA_HELP = ("Folder with one subfolder per class (or train/ val/ test/ split folders), a folder of unlabelled "
              "images, or a CSV manifest path,label[,split].")


@app.command()
def audit(
    data: Path = typer.Argument(..., metavar="DATA", help=_DATA_HELP),
    out: Optional[Path] = typer.Option(None, help="Report folder. \\[default: runs/audit-DATA]"),
    near_distance: int = typer.Option(6, help="Near duplicates: perceptual hashes at most this many of 64 bits "
                                              "apart."),
    blank_std: float = typer.Option(2.0, help="Blank: grey pixel standard deviation (0-255) under this."),
    min_side: Optional[int] = typer.Option(None, help="Tiny: shorter side under this many px. \\[default: a quarter "
                                                      "of the median shorter side, at least 8]"),
    json_out: bool = typer.Option(False, "--json", help="Print the whole audit as JSON."),
) -> None:
    """Class balance, size/mode/format statistics, unreadable files, duplicates, split leaks, blank and tiny images."""
    from sightkit.data.audit import audit_dataset
    from sightkit.data.audit_report import write_audit_report
    from sightkit.data.inventory import list_dataset

    total = len(list_dataset(data).entries)
    with progress_bar("auditing", total, enabled=not json_out and err_console.is_terminal) as advance:
        report = audit_dataset(data, near_distance=near_distance, blank_std=blank_std, min_side=min_side,
                               progress=advance)
    report["report_html"] = str(write_audit_report(report, out or Path("runs") / f"audit-{data.stem or 'data'}"))
    if json_out:
        print_json(report)
        return
    _print_audit(report)


def _print_audit(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{report['data']} ({report['layout']}): {report['images']} images, {report['readable']} readable",
                  highlight=False, soft_wrap=True)
    if report["classes"]:
        splits = list(report["per_split"])
        classes = Table("class", "images", *splits)
        for label, n in report["classes"].items():
            classes.add_row(label, str(n), *(str(report["per_split"][s].get(label, 0)) for s in splits))
        console.print(classes)
        console.print(f"imbalance ratio (largest / smallest class): {report['imbalance_ratio']}", highlight=False)
    findings = Table("finding", "count", "first")
    for name, items in report["findings"].items():
        first = items[0] if items else None
        shown = "" if first is None else (", ".join(first["paths"][:3]) if "paths" in first else first["path"])
        findings.add_row(name.replace("_", " "), str(len(items)), shown)
    console.print(findings)
    typer.echo(f"report: {report['report_html']}")
