"""``sightkit anomaly train|score|evaluate``: learn normal images, then flag and map what is unusual."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from sightkit.cli._options import command_line, given_options
from sightkit.cli._output import print_json, progress_bar, status

app = typer.Typer(help="Anomaly detection: train on normal images only, score new ones, map where they differ.",
                  no_args_is_help=True)

# The options of `train` that are TrainConfig fields; their defaults below are TrainConfig's
# (literals, so that `sightkit --help` does not import pydantic).
_CONFIG_OPTIONS = ("backbone", "size", "false_alarm", "val_fraction", "coreset_fraction", "max_bank", "epochs",
                   "batch_size", "lr", "seed")


class Method(str, Enum):
    patchcore = "patchcore"
    autoencoder = "autoencoder"


@app.command()
def train(
    ctx: typer.Context,
    normal_folder: Path = typer.Argument(..., metavar="NORMAL_FOLDER", help="Folder of normal images (searched "
                                                                           "recursively)."),
    out: Path = typer.Option(..., help="Bundle to write: a folder, or a file ending in .sightkit."),
    method: Method = typer.Option(Method.patchcore, help="patchcore (memory bank of CNN patch features) or "
                                                         "autoencoder (reconstruction error)."),
    backbone: Optional[Path] = typer.Option(None, help="A classify bundle whose mid-level features PatchCore uses. "
                                                       "\\[default: the built-in random wide CNN]"),
    false_alarm: float = typer.Option(0.05, help="Share of normal images the default threshold may flag."),
    size: Optional[int] = typer.Option(None, help="Input side in px. \\[default: the backbone's, else 64]"),
    val_fraction: float = typer.Option(0.2, help="Share of the images held out to fit the threshold."),
    coreset_fraction: float = typer.Option(0.1, help="PatchCore: share of patch features kept in the memory bank."),
    max_bank: int = typer.Option(10_000, help="PatchCore: most patch features in the memory bank."),
    epochs: int = typer.Option(40, help="Autoencoder: training epochs."),
    batch_size: int = typer.Option(32, help="Images per batch."),
    lr: float = typer.Option(1e-3, help="Autoencoder: learning rate."),
    seed: int = typer.Option(0, help="Random seed (held-out split, coreset, autoencoder)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Fit on normal images; hold some out to set the default threshold; warn about odd training images."""
    from sightkit.engine.quiet import quiet_libraries

    quiet_libraries()
    from sightkit.tasks.anomaly.api import AnomalyDetector

    options = given_options(ctx, _CONFIG_OPTIONS)
    if "backbone" in options:
        options["backbone"] = str(options["backbone"])
    detector = AnomalyDetector.train(normal_folder, out=out, method=method.value, status=status,
                                     command=command_line(ctx, [str(normal_folder)]), **options)
    meta = detector.meta
    summary = {"bundle": str(out), "method": meta["method"], "threshold": detector.threshold,
               "false_alarm": meta["threshold"]["false_alarm"], "images": meta["training"]["images"],
               "held_out": meta["training"]["held_out"], "suspects": meta["training"]["suspect_count"]}
    if json_out:
        print_json(summary)
        return
    typer.echo(f"model bundle: {out}\nthreshold: {detector.threshold:.4g} (false-alarm rate "
               f"{summary['false_alarm']:g} on {summary['held_out']} held-out normal images)")


@app.command()
def score(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="An anomaly bundle (folder or .sightkit)."),
    images: list[str] = typer.Argument(..., metavar="IMAGES", help="Image files, folders or globs."),
    threshold: Optional[float] = typer.Option(None, help="Scores above this are anomalies. \\[default: the "
                                                         "bundle's, fitted at its false-alarm rate]"),
    heatmaps: Optional[Path] = typer.Option(None, help="Write a heatmap overlay PNG per image into this folder."),
    json_out: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
) -> None:
    """Score images: anomaly score, decision against the threshold; unreadable images are listed, not fatal."""
    from sightkit.errors import ConfigError
    from sightkit.tasks.anomaly.api import AnomalyDetector
    from sightkit.tasks.classify.predict import expand_image_paths

    if threshold is not None and not math.isfinite(threshold):
        raise ConfigError(f"--threshold {threshold}: give a finite number")
    paths = expand_image_paths(images)
    detector = AnomalyDetector.load(bundle)
    with progress_bar("scoring", len(paths), enabled=not json_out) as advance:
        results = detector.score(paths, threshold, skip_errors=True, progress=advance)
    written = _write_heatmaps(results, heatmaps) if heatmaps is not None else {}
    failed = [r for r in results if r.error is not None]
    if failed:
        status(f"{len(failed)} of {len(results)} images could not be read, e.g. {failed[0].error}")
    if json_out:
        print_json([{**r.to_dict(), **({"heatmap": written[r.path]} if r.path in written else {})} for r in results])
    else:
        _print_scores(results)
    if len(failed) == len(results):
        raise typer.Exit(2)


@app.command()
def evaluate(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="An anomaly bundle (folder or .sightkit)."),
    normal_dir: Path = typer.Argument(..., metavar="NORMAL_DIR", help="Folder of normal images not used in "
                                                                      "training."),
    anomaly_dir: Path = typer.Argument(..., metavar="ANOMALY_DIR", help="Folder of anomalous images."),
    threshold: Optional[float] = typer.Option(None, help="Threshold for the rates. \\[default: the bundle's]"),
    out: Optional[Path] = typer.Option(None, help="Report folder. \\[default: report-NORMAL_DIR beside BUNDLE]"),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """AUROC, false-alarm and detection rates; report.json + report.html with the top-scored heatmaps."""
    from sightkit.tasks.anomaly.api import AnomalyDetector

    detector = AnomalyDetector.load(bundle)
    out = out or bundle.parent / f"report-{normal_dir.name}"
    report = detector.evaluate(normal_dir, anomaly_dir, out, threshold=threshold)
    for note in report["notes"]:
        status(f"note: {note}")
    if json_out:
        print_json({k: v for k, v in report.items() if k != "scores"})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("metric", "value", title=f"anomaly ({report['method']})")
    for key in ("auroc", "threshold", "false_alarm_rate", "detection_rate", "n_normal", "n_anomalous"):
        value = report[key]
        table.add_row(key, "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value))
    Console().print(table)
    typer.echo(f"report: {report['report_html']}")


def _write_heatmaps(results: list, folder: Path) -> dict[str, str]:
    """One ``<name>.png`` overlay per scored image (names relative to the images' common folder)."""
    import io

    from sightkit.cli._paths import relative_names
    from sightkit.core.fileio import atomic_write_bytes

    folder.mkdir(parents=True, exist_ok=True)
    names = relative_names([r.path for r in results]).names
    written = {}
    for result, name in zip(results, names):
        if result.error is not None:
            continue
        buffer = io.BytesIO()
        result.overlay().save(buffer, format="PNG")
        target = folder / (Path(name).with_suffix("").as_posix().replace("/", "__") + ".png")
        written[result.path] = str(atomic_write_bytes(target, buffer.getvalue()))
    return written


def _print_scores(results: list) -> None:
    from rich.console import Console
    from rich.table import Table

    from sightkit.cli._paths import relative_names

    names = relative_names([r.path for r in results])
    table = Table("image", "score", "threshold", "decision", title=names.root or None)
    for result, name in zip(results, names.names):
        if result.error is not None:
            table.add_row(name, "", "", f"unreadable: {result.error}")
        else:
            table.add_row(name, f"{result.score:.4g}", f"{result.threshold:.4g}",
                          "ANOMALY" if result.is_anomaly else "normal")
    Console().print(table)
