"""``sightkit data audit|label-issues|suggest|shard``: find what is wrong with a dataset, and what to label next."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from sightkit.cli._output import err_console, print_json, progress_bar, status

app = typer.Typer(help="Audit datasets, find mislabelled images, choose what to label next.", no_args_is_help=True)

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
    from sightkit.data.reports import write_audit_report
    from sightkit.data.inventory import list_dataset

    inventory = list_dataset(data)
    with progress_bar("auditing", len(inventory.entries), enabled=not json_out and err_console.is_terminal) as advance:
        report = audit_dataset(inventory, near_distance=near_distance, blank_std=blank_std, min_side=min_side,
                               progress=advance)
    report["report_html"] = str(write_audit_report(report, out or Path("runs") / f"audit-{data.stem or 'data'}"))
    if json_out:
        print_json(report)
        return
    _print_audit(report)


@app.command("label-issues")
def label_issues(
    data: Path = typer.Argument(..., metavar="DATA", help=_DATA_HELP.replace(", a folder of unlabelled images", "")),
    model: str = typer.Option("skcnn_tiny", help="Classifier trained per fold (any 'sightkit classify models' name)."),
    folds: int = typer.Option(5, help="Cross-validation folds (reduced when a class has fewer images)."),
    epochs: int = typer.Option(15, help="Training epochs per fold."),
    batch_size: int = typer.Option(64, min=1, help="Batch size."),
    img_size: Optional[int] = typer.Option(None, help="Input side in px. \\[default: from the data]"),
    hflip: bool = typer.Option(True, "--hflip/--no-hflip", help="Random horizontal flips in training (turn off for "
                                                              "text, digits)."),
    seed: int = typer.Option(0, help="Seed of the folds and the training."),
    device: str = typer.Option("auto", help="Device: auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(None, help="Report folder. \\[default: runs/label-issues-DATA]"),
    export_clean: Optional[Path] = typer.Option(None, "--export-clean", metavar="MANIFEST.csv",
                                                help="Write a path,label[,split] manifest of the images not flagged "
                                                     "(for 'sightkit classify train MANIFEST.csv')."),
    json_out: bool = typer.Option(False, "--json", help="Print the ranked issues and the settings as JSON."),
) -> None:
    """Rank likely mislabelled images: k-fold out-of-sample probabilities, then cleanlab's find_label_issues."""
    from sightkit.data.label_issues import find_label_issues, write_clean_manifest
    from sightkit.data.reports import write_label_issues_report

    options = {"batch_size": batch_size, "hflip": hflip, "device": device,
               **({"img_size": img_size} if img_size is not None else {})}
    result = find_label_issues(data, model=model, folds=folds, epochs=epochs, seed=seed, status=status, **options)
    result["report_html"] = str(write_label_issues_report(result, out or Path("runs") / f"label-issues-{data.stem}"))
    if export_clean is not None:
        result["clean_manifest"] = str(write_clean_manifest(result, export_clean))
        status(f"clean manifest: {export_clean} ({result['n'] - result['n_issues']} of {result['n']} images)")
    if json_out:
        print_json({key: value for key, value in result.items() if key != "images"})
        return
    _print_issues(result)


@app.command()
def suggest(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A classify bundle (folder or .sightkit) trained on "
                                                              "the labels so far."),
    unlabeled: str = typer.Argument(..., metavar="UNLABELED", help="Folder (or glob) of unlabelled images."),
    n: int = typer.Option(100, "-n", help="How many images to suggest."),
    strategy: str = typer.Option("hybrid", help="hybrid (margin uncertainty, then k-center diversity on the "
                                                "embeddings), badge (k-means++ on gradient embeddings), margin, "
                                                "entropy or random."),
    labeled: Optional[Path] = typer.Option(None, "--labeled", metavar="DATA", help="Labelled data (class folders "
                                           "or CSV manifest): skipped in the pool, and the start of k-center."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="MANIFEST.csv", help="CSV path,score,reason of the "
                                       "suggestions, best first. \\[default: REPORT/manifest.csv]"),
    report: Optional[Path] = typer.Option(None, "--report", metavar="DIR", help="Report folder (report.html with "
                                          "thumbnails). \\[default: runs/suggest-UNLABELED]"),
    seed: int = typer.Option(0, help="Seed of --strategy random."),
    batch_size: int = typer.Option(64, min=1, help="Batch size."),
    json_out: bool = typer.Option(False, "--json", help="Print the suggestions and the settings as JSON."),
) -> None:
    """Which unlabelled images to label next (active learning): a ranked manifest and report.html."""
    from itertools import takewhile

    from sightkit.data.active import list_labelled, list_pool, suggest as suggest_images, work_units, write_manifest
    from sightkit.data.reports import write_suggest_report
    from sightkit.data.selection import STRATEGIES
    from sightkit.errors import ConfigError

    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy {strategy}: choose one of {', '.join(STRATEGIES)}")
    if out is not None and out.suffix.lower() != ".csv":
        raise ConfigError(f"--out {out}: use a .csv file name")
    plain = list(takewhile(lambda part: not any(c in part for c in "*?["), Path(unlabeled).parts))  # a glob's folder
    folder = report or Path("runs") / f"suggest-{Path(*plain).name if plain else 'pool'}"
    total = work_units(strategy, len(list_pool(unlabeled)), len(list_labelled(labeled)) if labeled else 0)
    with progress_bar("scoring", total, enabled=not json_out and total > 0) as advance:
        result = suggest_images(bundle, unlabeled, n, strategy=strategy, labeled=labeled, seed=seed,
                                batch_size=batch_size, progress=advance, status=status)
    result["manifest"] = str(write_manifest(result, out or folder / "manifest.csv"))
    result["report_html"] = str(write_suggest_report(result, folder))
    if json_out:
        print_json(result)
        return
    _print_suggestions(result)


@app.command()
def shard(
    data: Path = typer.Argument(..., metavar="DATA", help=_DATA_HELP.replace(", a folder of unlabelled images", "")),
    out: Path = typer.Argument(..., metavar="OUT", help="New folder for the .tar shards, manifest.json and "
                                                        "classes.json."),
    shard_size: int = typer.Option(1000, min=1, help="Images per shard."),
    val_fraction: float = typer.Option(0.2, help="Validation share when DATA has no val/ (as 'classify train')."),
    test_fraction: float = typer.Option(0.0, help="Test share when DATA has no test/."),
    seed: int = typer.Option(0, help="Seed of the splits and of the order of the training images."),
    json_out: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Write WebDataset tar shards that 'classify train OUT' (or --shards URL, after copying OUT to object storage) reads."""
    from sightkit.data.inventory import list_dataset
    from sightkit.data.shards import write_shards

    total = len(list_dataset(data).entries)
    with progress_bar("sharding", total, enabled=not json_out and err_console.is_terminal) as advance:
        manifest = write_shards(data, out, shard_size, val_fraction=val_fraction, test_fraction=test_fraction,
                                seed=seed, progress=advance)
    for item in manifest["skipped"]:
        status(f"skipped {item['reason']}")  # the reason names the file
    if json_out:
        print_json(manifest)
        return
    for split, info in manifest["splits"].items():
        typer.echo(f"{split}: {info['images']} images in {len(info['shards'])} shards")
    typer.echo(f"shards: {out} ({len(manifest['classes'])} classes; manifest.json, classes.json)")


def _print_suggestions(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from sightkit.cli._paths import relative_names

    names = relative_names([s["path"] for s in result["suggestions"]])
    table = Table("rank", "image", "score", "reason", title=f"folder: {names.root}" if names.root else None,
                  title_justify="left")
    for item, name in zip(result["suggestions"], names.names):
        table.add_row(str(item["rank"]), name, f"{item['score']:.3f}", item["reason"])
    Console().print(table)
    typer.echo(f"{result['n']} of {result['pool'] - result['already_labelled']} unlabelled images suggested "
               f"({result['strategy']}); manifest: {result['manifest']}; report: {result['report_html']}")


def _print_issues(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from sightkit.cli._paths import relative_names

    console = Console()
    console.print(f"{result['n_issues']} likely label issues among {result['n']} images "
                  f"(out-of-sample accuracy {result['out_of_sample_accuracy']:.3f}, {result['folds']} folds)",
                  highlight=False, soft_wrap=True)
    names = relative_names([i["path"] for i in result["issues"]])
    table = Table("rank", "image", "given", "suggested", "quality",
                  title=f"folder: {names.root}" if names.root else None, title_justify="left")
    for issue, name in zip(result["issues"], names.names):
        table.add_row(str(issue["rank"]), name, issue["given"], issue["suggested"], f"{issue['quality']:.4f}")
    console.print(table)
    typer.echo(f"report: {result['report_html']}")


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
