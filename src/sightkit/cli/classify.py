"""``sightkit classify train|evaluate|predict|models``: CNN image classification."""

from __future__ import annotations

import csv
import io
import logging
import warnings
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from sightkit.cli._output import err_console, print_json, progress_bar, status

if TYPE_CHECKING:
    from sightkit.tasks.classify.api import Classifier
    from sightkit.tasks.classify.predict import Prediction

app = typer.Typer(help="Train, evaluate and run image classifiers.", no_args_is_help=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def quiet_libraries() -> None:
    """Hide Lightning's banner/tips and library warnings that do not help a user."""
    import lightning.pytorch  # noqa: F401  (it sets its loggers' levels on import)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"lightning\..*")
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*num_workers.*")


@app.command()
def train(
    data: Path = typer.Argument(..., help="Folder with one subfolder per class (or train/val/test), or a CSV manifest."),
    model: Optional[str] = typer.Option(None, help="skcnn_tiny|skcnn_small|skcnn_base or any timm name [default: skcnn_small]."),
    epochs: Optional[int] = typer.Option(None, help="Epochs to train [default: 30]; with --resume, the new total."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size [default: 64]."),
    img_size: Optional[int] = typer.Option(None, help="Input side in px [default: from the data]."),
    out: Optional[Path] = typer.Option(None, help="Run folder [default: runs/classify-MODEL-DATA-DATE]."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    optimizer: Optional[str] = typer.Option(None, help="adamw|sgd [default: adamw]."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate [default: 0.002]."),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay [default: 0.05]."),
    warmup_epochs: Optional[float] = typer.Option(None, help="Linear warm-up epochs [default: 1]."),
    label_smoothing: Optional[float] = typer.Option(None, help="Label smoothing [default: 0.1]."),
    mixup: Optional[float] = typer.Option(None, help="MixUp alpha, 0 = off [default: 0]."),
    cutmix: Optional[float] = typer.Option(None, help="CutMix alpha, 0 = off [default: 0]."),
    augment: Optional[str] = typer.Option(None, help="none|light|strong [default: light]."),
    hflip: Optional[bool] = typer.Option(None, "--hflip/--no-hflip", help="Random horizontal flips (off for text, digits)."),
    patience: Optional[int] = typer.Option(None, help="Early stopping after N epochs without val gain."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop training after this many minutes."),
    val_fraction: Optional[float] = typer.Option(None, help="Validation share when DATA has no val/ [default: 0.2]."),
    test_fraction: Optional[float] = typer.Option(None, help="Test share when DATA has no test/ [default: 0]."),
    seed: Optional[int] = typer.Option(None, help="Random seed [default: 0]."),
    device: Optional[str] = typer.Option(None, help="auto|cpu|cuda [default: auto]."),
    workers: Optional[int] = typer.Option(None, help="DataLoader workers [default: 0 for in-memory data]."),
    pretrained: Optional[bool] = typer.Option(None, "--pretrained/--no-pretrained", help="timm hub weights (needs internet)."),
    weights: Optional[Path] = typer.Option(None, help="Local weights to start from (safetensors, torch state dict, bundle)."),
    json_out: bool = typer.Option(False, "--json", help="Print the final metrics as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Train a classifier; writes checkpoints, logs, the model bundle and a report."""
    quiet_libraries()
    from sightkit.tasks.classify.api import Classifier

    given = {k: v for k, v in dict(
        epochs=epochs, batch_size=batch_size, img_size=img_size, optimizer=optimizer, lr=lr,
        weight_decay=weight_decay, warmup_epochs=warmup_epochs, label_smoothing=label_smoothing, mixup=mixup,
        cutmix=cutmix, augment=augment, hflip=hflip, patience=patience, max_minutes=max_minutes,
        val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, device=device, workers=workers,
        pretrained=pretrained, weights=str(weights) if weights else None).items() if v is not None}
    clf = Classifier.train(data, model, out=out, resume=resume, progress=progress, status=status, **given)
    report = clf.report or {}
    if json_out:
        print_json({"bundle": str(clf.path), **_headline(report)})
        return
    _print_metrics(report, title=f"held-out {report.get('split', '')} split")
    err_console.print(f"model bundle: [bold]{clf.path}[/bold]\nreport: {report.get('report_html')}")


@app.command()
def evaluate(
    bundle: Path = typer.Argument(..., help="A classify bundle (folder or .sightkit)."),
    data: Path = typer.Argument(..., help="Folder per class (its test/ or val/ if present) or CSV manifest."),
    out: Optional[Path] = typer.Option(None, help="Report folder [default: BUNDLE/../report-DATA]."),
    batch_size: int = typer.Option(64, help="Batch size."),
    json_out: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
) -> None:
    """Evaluate a model: accuracy, top-5, per-class F1, calibration, confusion matrix, report.html."""
    from sightkit.data.discover import read_labelled_images
    from sightkit.tasks.classify.api import Classifier

    clf = Classifier.load(bundle)
    pairs, skipped = read_labelled_images(data)
    for path, reason in skipped:
        status(f"skipped {path}: {reason}")
    out = out or bundle.parent / f"report-{data.stem}"
    with progress_bar("evaluating", len(pairs), enabled=not json_out) as advance:
        report = clf.evaluate(pairs, out, batch_size=batch_size, progress=advance)
    report["skipped"] = [{"path": str(p), "reason": r} for p, r in skipped] + report["skipped"]
    if json_out:
        print_json(report)
        return
    _print_metrics(report, title=str(data))
    err_console.print(f"report: {report['report_html']}")


@app.command()
def predict(
    bundle: Path = typer.Argument(..., help="A classify bundle (folder or .sightkit), or an .onnx file from 'sightkit export'."),
    images: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="Labels per image."),
    min_confidence: float = typer.Option(0.0, min=0.0, max=1.0, help="Below this probability the label is 'unknown'."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table|json|csv."),
    json_out: bool = typer.Option(False, "--json", help="Same as --format json."),
    batch_size: int = typer.Option(64, help="Batch size."),
    backend: Optional[str] = typer.Option(None, help="torch|onnx (ONNX Runtime) [default: onnx for .onnx files]."),
    explain: bool = typer.Option(False, "--explain", help="Also write heatmap overlays of the predicted labels."),
    explain_dir: Path = typer.Option(Path("explanations"), help="Folder for the --explain overlays and index.html."),
    explain_method: str = typer.Option("gradcam", help="Method of --explain (see 'sightkit explain --help')."),
) -> None:
    """Predict top-k labels with calibrated probabilities; unreadable images are listed, not fatal."""
    from sightkit.tasks.classify.api import Classifier
    from sightkit.tasks.classify.predict import expand_image_paths

    clf = Classifier.load(bundle, backend=backend)
    paths = expand_image_paths(images)
    results = clf.predict(paths, top_k=top_k, min_confidence=min_confidence, batch_size=batch_size, skip_errors=True)
    overlays = _explain_predictions(clf, results, explain_dir, explain_method) if explain else {}
    fmt = OutputFormat.json if json_out else output_format
    if fmt is OutputFormat.json:
        print_json([{**r.to_dict(), **({"overlay": overlays[r.path]} if r.path in overlays else {})} for r in results])
    elif fmt is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["path", "label", "score", "topk", "error"])
        for r in results:
            writer.writerow([r.path, r.label, f"{r.score:.6f}", ";".join(f"{l}:{s:.4f}" for l, s in r.topk), r.error or ""])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("image", "label", "score", f"top-{top_k}")
        for r in results:
            top = ", ".join(f"{l} {s:.2f}" for l, s in r.topk)
            table.add_row(r.path, r.label, f"{r.score:.3f}", r.error or top)
        Console().print(table)
    failed = [r for r in results if r.error is not None]
    if failed:
        status(f"{len(failed)} of {len(results)} images could not be read, e.g. {failed[0].error}")
        raise typer.Exit(1)


@app.command()
def models(pattern: str = typer.Argument("*", help="Glob over model names, e.g. 'resnet*'.")) -> None:
    """List the model names --model accepts (built-in first, then timm)."""
    from sightkit.tasks.classify.model import list_models

    for name in list_models(pattern):
        typer.echo(name)


def _explain_predictions(clf: Classifier, results: list[Prediction], out_dir: Path, method: str) -> dict[str, str]:
    """Overlays of the predicted label of each readable image in ``out_dir``: ``{image path: overlay}``."""
    from sightkit.explain.api import explain_images

    explanations = explain_images(clf.predictor, [r.path for r in results if r.error is None], method, out_dir=out_dir)
    status(f"explanations ({method}): {out_dir / 'index.html'}")
    return {e.path: str(out_dir / e.files["overlay"]) for e in explanations}


def _headline(report: dict) -> dict:
    keys = ("split", "accuracy", "top5_accuracy", "macro_f1", "balanced_accuracy", "ece", "ece_uncalibrated",
            "temperature", "n", "report_html")
    return {k: report[k] for k in keys if k in report}


def _print_metrics(report: dict, title: str) -> None:
    from rich.table import Table

    table = Table("metric", "value", title=title)
    for key, value in _headline(report).items():
        if key in ("split", "report_html"):
            continue
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    err_console.print(table)
