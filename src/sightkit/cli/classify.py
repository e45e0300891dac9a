"""``sightkit classify train|evaluate|predict|embed|models``: CNN image classification."""

from __future__ import annotations

import csv
import io
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from sightkit.cli._options import SYNC_BATCHNORM_HELP, given_options, was_given
from sightkit.cli._output import err_console, print_json, progress_bar, status
from sightkit.cli._paths import relative_names

if TYPE_CHECKING:
    from sightkit.tasks.classify.api import Classifier
    from sightkit.tasks.classify.predict import Prediction

app = typer.Typer(help="Train, evaluate and run image classifiers.", no_args_is_help=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


# The options of `train` that are TrainConfig fields; their defaults below are TrainConfig's
# (kept here as literals so that `sightkit --help` does not import pydantic; a test compares them).
_CONFIG_OPTIONS = ("epochs", "batch_size", "img_size", "optimizer", "lr", "weight_decay", "warmup_epochs",
                   "label_smoothing", "mixup", "cutmix", "augment", "hflip", "patience", "max_minutes", "ema",
                   "ema_decay", "val_fraction", "test_fraction", "seed", "device", "workers", "pretrained", "weights",
                   "synthetic", "balance", "devices", "freeze_backbone", "backbone_lr_scale", "few_shot",
                   "num_nodes", "strategy", "sync_batchnorm", "unlabeled_ratio", "unlabeled_conf", "lambda_u")


@app.command()
def train(
    ctx: typer.Context,
    data: Optional[Path] = typer.Argument(None, metavar="DATA",
                                          help="Folder with one subfolder per class (or train/ val/ test/), a CSV "
                                               "manifest, or a folder of shards from 'sightkit data shard'."),
    shards: Optional[str] = typer.Option(None, metavar="URL", help="Train from shards at this fsspec URL (s3://, "
                                                                   "gs://, https://) instead of DATA."),
    model: str = typer.Option("skcnn_small", help="skcnn_tiny, skcnn_small, skcnn_base or any timm name "
                                                  "(see 'sightkit classify models')."),
    epochs: int = typer.Option(30, help="Epochs to train; with --resume, the new total."),
    batch_size: int = typer.Option(64, help="Batch size."),
    img_size: Optional[int] = typer.Option(None, help="Input side in px. \\[default: from the data]"),
    out: Optional[Path] = typer.Option(None, help="Run folder. \\[default: a new folder in runs/ named after the model, data and time]"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint; options "
                                                        "given with it override the run's saved ones."),
    optimizer: str = typer.Option("adamw", help="Optimizer: adamw or sgd."),
    lr: float = typer.Option(0.002, help="Peak learning rate."),
    weight_decay: float = typer.Option(0.05, help="Weight decay."),
    warmup_epochs: float = typer.Option(1.0, help="Linear warm-up epochs."),
    label_smoothing: float = typer.Option(0.1, help="Label smoothing."),
    mixup: float = typer.Option(0.0, help="MixUp alpha; 0 turns it off."),
    cutmix: float = typer.Option(0.0, help="CutMix alpha; 0 turns it off."),
    augment: str = typer.Option("light", help="Augmentation: none, light or strong."),
    hflip: bool = typer.Option(True, "--hflip/--no-hflip", help="Random horizontal flips (turn off for text, digits)."),
    balance: bool = typer.Option(False, "--balance", help="Class-balanced loss weights (inverse class frequency) for "
                                                          "imbalanced data."),
    sensitivity: Optional[float] = typer.Option(
        None, help="Target sensitivity: the positive class's decision threshold is chosen on the validation "
                   "split to reach it (e.g. 0.95) and stored in the bundle; predict and evaluate use it. "
                   "\\[default: argmax]"),
    target_sensitivity: Optional[float] = typer.Option(None, hidden=True, help="Same as --sensitivity."),
    positive_class: Optional[str] = typer.Option(
        None, help="The class that is the finding, for --sensitivity. \\[default: a class named like pneumonia, "
                   "abnormal or positive (the list is in the medical recipe), else the second class]"),
    patience: Optional[int] = typer.Option(None, help="Stop early after N epochs without a val accuracy gain. "
                                                      "\\[default: off]"),
    max_minutes: Optional[float] = typer.Option(None, help="Training budget in minutes. Without --epochs, the run "
                                                           "times a few steps and picks the epochs (and, without "
                                                           "--model, the width) that fill it, saying why. "
                                                           "\\[default: no limit]"),
    ema: bool = typer.Option(False, "--ema/--no-ema", help="Validate, checkpoint and ship an exponential moving "
                                                          "average of the weights."),
    ema_decay: Optional[float] = typer.Option(None, help="EMA decay per step. \\[default: an average over 5% of "
                                                         "the run's steps]"),
    val_fraction: float = typer.Option(0.2, help="Validation share when DATA has no val/."),
    test_fraction: float = typer.Option(0.0, help="Test share when DATA has no test/."),
    seed: int = typer.Option(0, help="Random seed of the splits and the training."),
    device: str = typer.Option("auto", help="Device: auto, cpu or cuda."),
    workers: Optional[int] = typer.Option(None, help="DataLoader workers. \\[default: 0 for in-memory data]"),
    devices: int = typer.Option(1, help="Processes per node (one per GPU, or CPU processes); above 1 trains with "
                                        "DDP and needs --out. --batch-size stays the global batch."),
    num_nodes: int = typer.Option(1, help="Machines of a multi-node run (torchrun or SLURM start the processes)."),
    strategy: str = typer.Option("auto", help="auto or ddp (gloo on the CPU, NCCL on GPUs)."),
    sync_batchnorm: bool = typer.Option(False, "--sync-batchnorm", help=SYNC_BATCHNORM_HELP),
    pretrained: bool = typer.Option(False, "--pretrained/--no-pretrained",
                                    help="Start from timm's pretrained weights (downloaded once, then cached)."),
    weights: Optional[Path] = typer.Option(None, help="Local weights to start from (safetensors, torch state dict, "
                                                      "bundle)."),
    init: Optional[Path] = typer.Option(None, metavar="BUNDLE_OR_CKPT",
                                        help="Fine-tune from a classify bundle or a classify run's checkpoint: its "
                                             "architecture, backbone and input size; its head when the classes are "
                                             "the same, else a head imprinted with the class means of the embeddings."),
    freeze_backbone: bool = typer.Option(False, "--freeze-backbone", help="Train the classification layer alone "
                                                                          "(BatchNorm statistics kept); needs --init."),
    backbone_lr_scale: Optional[float] = typer.Option(None, help="Backbone learning rate as a share of --lr. "
                                                                 "\\[default: 0.1 with --init, else 1]"),
    few_shot: bool = typer.Option(False, "--few-shot", help="No training: a nearest-class-mean (prototype) "
                                                            "classifier on the --init model's embeddings, for a "
                                                            "handful of images per class."),
    synthetic: int = typer.Option(0, help="Generated images per class added to the training split (never to "
                                          "val/test); needs --generator."),
    generator: Optional[Path] = typer.Option(None, help="Class-conditional 'sightkit generate' bundle that "
                                                        "--synthetic samples."),
    unlabeled: Optional[Path] = typer.Option(None, metavar="FOLDER", help="Unlabelled images (searched "
                                             "recursively) for FixMatch semi-supervised training."),
    unlabeled_ratio: int = typer.Option(7, help="With --unlabeled: unlabelled images per labelled image in a batch "
                                                "(FixMatch's mu)."),
    unlabeled_conf: float = typer.Option(0.95, help="With --unlabeled: confidence on the weakly augmented view "
                                                    "that makes a pseudo-label."),
    lambda_u: float = typer.Option(1.0, help="With --unlabeled: weight of the unlabelled loss (FixMatch's lambda_u)."),
    json_out: bool = typer.Option(False, "--json", help="Print the final metrics as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Train a classifier; writes checkpoints, logs, the model bundle and a report."""
    from sightkit.engine.distributed import is_launch_rank_zero
    from sightkit.errors import ConfigError
    from sightkit.tasks.classify.api import Classifier

    options = given_options(ctx, _CONFIG_OPTIONS)
    if weights is not None:
        options["weights"] = str(weights)
    if init is not None:
        options["init"] = str(init)
    if generator is not None:
        options["generator"] = str(generator)
    if sensitivity is not None or target_sensitivity is not None:
        options["target_sensitivity"] = sensitivity if sensitivity is not None else target_sensitivity
    if positive_class is not None:
        options["positive_class"] = positive_class
    if unlabeled is not None:
        options["unlabeled"] = str(unlabeled)
    if (data is None) == (shards is None):
        raise ConfigError("give DATA (a folder, manifest or shard folder) or --shards URL, not both")
    clf = Classifier.train(shards or data, model if was_given(ctx, "model") else None, out=out, resume=resume,
                           progress=progress and not json_out, status=status, **options)
    if not is_launch_rank_zero():  # another process of a DDP run: rank 0 prints the result
        return
    report = clf.report or {}
    training = clf.meta.get("training", {})
    if json_out:
        print_json({"bundle": str(clf.path), "epochs_run": training.get("epochs_run"),
                    "stopped": training.get("stopped"), **_headline(report), **_medical_summary(report),
                    **({"unlabeled": training["unlabeled"]} if "unlabeled" in training else {})})
        return
    _print_metrics(report, title=f"held out: {report.get('scored', '')}")
    typer.echo(f"model bundle: {clf.path}\nreport: {report.get('report_html')}")


class Task(str, Enum):
    medical = "medical"


class Split(str, Enum):
    test = "test"
    val = "val"
    train = "train"
    all = "all"


@app.command()
def evaluate(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A classify bundle (folder or .sightkit)."),
    data: Path = typer.Argument(..., metavar="DATA",
                                help="The dataset the model was trained on (scores its recorded test split), or new "
                                     "labelled images: a folder per class (its test/ or val/ if present) or a CSV "
                                     "manifest."),
    split: Optional[Split] = typer.Option(None, help="Recorded split of the training dataset to score: test, val, "
                                                     "train or all. \\[default: test, else val]"),
    allow_train_images: bool = typer.Option(False, "--allow-train-images",
                                            help="Score DATA even when it holds training images (the metrics then "
                                                 "overstate accuracy on new images)."),
    task: Optional[Task] = typer.Option(None, help="medical: sensitivity, specificity, PPV, NPV and AUROC with "
                                                   "95% bootstrap intervals (one class against the rest). "
                                                   "\\[default: medical metrics for two classes]"),
    positive_class: Optional[str] = typer.Option(None, help="The class that is the finding. \\[default: the "
                                                            "bundle's, else a class named like pneumonia, abnormal "
                                                            "or positive, else the second class]"),
    out: Optional[Path] = typer.Option(None, help="Report folder. \\[default: report-DATA beside BUNDLE]"),
    batch_size: int = typer.Option(64, min=1, help="Batch size."),
    tta: bool = typer.Option(False, "--tta", help="Test-time augmentation: score the mean of flipped and shifted "
                                                  "views; the report also gives the figures without it."),
    json_out: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
) -> None:
    """Evaluate a model: accuracy, top-5, per-class F1, calibration, confusion matrix, report.html."""
    from sightkit.tasks.classify.api import Classifier
    from sightkit.tasks.classify.eval_data import choose_eval_data

    clf = Classifier.load(bundle)
    chosen = choose_eval_data(clf.bundle_ref, data, split.value if split else None, allow_train_images)
    for note in chosen.notes:
        status(f"note: {note}")
    for path, reason in chosen.skipped:
        status(f"skipped {reason}")  # the reason names the file
    status(f"scoring the {chosen.describe()}")
    out = out or bundle.parent / f"report-{data.stem}"
    with progress_bar("evaluating", len(chosen.pairs), enabled=not json_out and err_console.is_terminal) as advance:
        report = clf.evaluate(chosen, out, batch_size=batch_size, progress=advance,
                              task=task.value if task else None, positive_class=positive_class, tta=tta)
    if json_out:
        print_json(report)
        return
    _print_metrics(report, title=f"scored: {report['scored']}")
    if tta:
        plain = report["without_tta"]
        typer.echo(f"with --tta ({report['tta']['views']} views): accuracy {report['accuracy']:.4f}, balanced "
                   f"{report['balanced_accuracy']:.4f}; without: accuracy {plain['accuracy']:.4f}, balanced "
                   f"{plain['balanced_accuracy']:.4f}")
    typer.echo(f"report: {report['report_html']}")


class Backend(str, Enum):
    torch = "torch"
    onnx = "onnx"


@app.command()
def predict(
    bundle: Path = typer.Argument(..., metavar="BUNDLE",
                                  help="A classify bundle (folder or .sightkit), or an .onnx file from 'sightkit "
                                       "export'."),
    images: list[str] = typer.Argument(..., metavar="IMAGES", help="Image files, folders or globs."),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="Labels per image."),
    min_confidence: float = typer.Option(0.0, min=0.0, max=1.0, help="Below this probability the label is 'unknown'."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="Output: table, json or csv."),
    json_out: bool = typer.Option(False, "--json", help="Same as --format json."),
    batch_size: int = typer.Option(64, min=1, help="Batch size."),
    tta: bool = typer.Option(False, "--tta", help="Test-time augmentation: predict from the mean of flipped and "
                                                  "shifted views (6 forward passes per image)."),
    backend: Optional[Backend] = typer.Option(None, help="torch, or onnx (ONNX Runtime; a bundle is exported once, "
                                                         "checked against torch and cached). \\[default: onnx for "
                                                         ".onnx files, else torch]"),
    explain: bool = typer.Option(False, "--explain", help="Also write heatmap overlays of the predicted labels."),
    explain_dir: Path = typer.Option(Path("explanations"), help="Folder for the --explain overlays and index.html."),
    explain_method: str = typer.Option("gradcam", help="Method of --explain (see 'sightkit explain --help')."),
    out: Optional[Path] = typer.Option(None, help="Write every prediction to this .parquet, .csv or .jsonl file, "
                                                  "in chunks; a rerun after a kill resumes where it stopped."),
    chunk_rows: int = typer.Option(4096, min=1, help="With --out: images per chunk (the work a kill can lose)."),
    workers: Optional[int] = typer.Option(None, min=0, help="With --out: decoding processes. \\[default: the cores "
                                                            "the model leaves free]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="With --out: replace a finished results file."),
) -> None:
    """Predict top-k labels with calibrated probabilities; unreadable images are listed, not fatal."""
    from sightkit.core.bundle import is_bundle
    from sightkit.tasks.classify.api import Classifier
    from sightkit.tasks.classify.predict import expand_image_paths

    paths = expand_image_paths(images)
    if backend is Backend.onnx and is_bundle(bundle):
        from sightkit.deploy.onnx_cache import cached_onnx

        bundle = cached_onnx(bundle, status)
    clf = Classifier.load(bundle, backend=backend.value if backend else None)
    decision = clf.meta.get("decision")
    if decision:
        status(f"decision: {decision['positive_class']} when its probability >= {decision['threshold']:.4g} (chosen "
               f"for sensitivity {decision['target_sensitivity']:g} on the {decision['chosen_on']} split)")
    if out is not None:
        from sightkit.cli._batch import predict_into_file

        predict_into_file(clf, paths, out, top_k=top_k, min_confidence=min_confidence, batch_size=batch_size,
                          workers=workers, chunk_rows=chunk_rows, overwrite=overwrite, json_out=json_out,
                          explain=explain, tta=tta)
        return
    results = clf.predict(paths, top_k=top_k, min_confidence=min_confidence, batch_size=batch_size, skip_errors=True,
                          tta=tta)
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
        _print_predictions(results, top_k)
    failed = [r for r in results if r.error is not None]
    if failed:
        status(f"{len(failed)} of {len(results)} images could not be read, e.g. {failed[0].error}")
        raise typer.Exit(1)


@app.command()
def embed(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A classify bundle (folder or .sightkit)."),
    images: list[str] = typer.Argument(..., metavar="IMAGES", help="Image files, folders or globs."),
    out: Path = typer.Option(..., "--out", help="emb.npy (row order in emb.paths.txt beside it) or emb.parquet "
                                                 "(columns path, embedding; needs pyarrow)."),
    batch_size: int = typer.Option(64, min=1, help="Batch size."),
    json_out: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write L2-normalised penultimate-layer embeddings of images (for search, clustering, active learning)."""
    from sightkit.tasks.classify.api import Classifier
    from sightkit.tasks.classify.embeddings import check_output, save_embeddings
    from sightkit.tasks.classify.predict import expand_image_paths

    check_output(out)
    paths = expand_image_paths(images)
    clf = Classifier.load(bundle)
    with progress_bar("embedding", len(paths), enabled=not json_out and err_console.is_terminal) as advance:
        rows, kept, failed = clf.predictor.embed(paths, batch_size, skip_errors=True, progress=advance)
    written = save_embeddings(out, rows, [paths[i] for i in kept])
    summary = {"rows": len(kept), "dim": int(rows.shape[1]), "files": [str(p) for p in written],
               "unreadable": [{"path": str(paths[i]), "error": e} for i, e in failed]}
    if json_out:
        print_json(summary)
    else:
        typer.echo(f"{summary['rows']} embeddings of dimension {summary['dim']}: {', '.join(summary['files'])}")
    if failed:
        status(f"{len(failed)} of {len(paths)} images could not be read and have no row, e.g. {failed[0][1]}")
        raise typer.Exit(1)


@app.command()
def models(pattern: str = typer.Argument("*", metavar="PATTERN", help="Glob over model names, e.g. 'resnet*'.")) -> None:
    """List the model names --model accepts (built-in first, then timm)."""
    from sightkit.tasks.classify.model import list_models

    names = list_models(pattern)
    if not names:
        status(f"no model name matches {pattern!r}; 'sightkit classify models' lists them all")
        raise typer.Exit(1)
    for name in names:
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
    from rich.console import Console
    from rich.table import Table

    table = Table("metric", "value")
    for key, value in _headline(report).items():
        if key in ("split", "report_html"):
            continue
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    medical = report.get("medical")
    if medical:
        for name in ("sensitivity", "specificity", "ppv", "npv", "auroc"):
            value, interval = medical[name]["value"], medical[name]["ci95"]
            shown = "n/a" if value is None else f"{value:.4f}"
            table.add_row(name, shown + (f" (95% CI {interval[0]:.4f}-{interval[1]:.4f})" if interval else ""))
        table.add_row("positive class", medical["positive_class"])
        table.add_row("decision", medical["decision"])
    console = Console()
    console.print(title, highlight=False, soft_wrap=True)
    console.print(table)


def _print_predictions(results: list[Prediction], top_k: int) -> None:
    """The predictions as a table on stdout, readable at 80 columns.

    Images are named relative to the folder that holds them all (named above the table); each
    prediction cell lists the label and its probability, then the other top-k candidates, one per
    line, so class names stay whole.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    names = relative_names([r.path for r in results])
    table = Table(title=f"folder: {names.root}" if names.root else None, title_justify="left")
    table.add_column("image", overflow="fold", ratio=1)
    table.add_column(f"label and top-{top_k}" if top_k > 1 else "label")
    for r, name in zip(results, names.names):
        table.add_row(name, Text(r.error, overflow="fold") if r.error else Text("\n".join(_prediction_lines(r)),
                                                                                no_wrap=True))
    Console().print(table, highlight=False)


def _prediction_lines(result: Prediction) -> list[str]:
    """The label and its probability, then the other top-k candidates (all of them after 'unknown')."""
    from sightkit.tasks.classify.predict import UNKNOWN

    decided = result.label != UNKNOWN or result.label in dict(result.topk)  # else below --min-confidence
    first = f"{result.label} {result.score:.3f}" if decided else result.label
    return [first, *(f"  {label} {score:.3f}" for label, score in result.topk if not decided or label != result.label)]


def _medical_summary(report: dict) -> dict:
    """The medical metrics of a report without the ROC points, for ``train --json``."""
    medical = report.get("medical")
    return {"medical": {k: v for k, v in medical.items() if k != "roc"}} if medical else {}
