"""``sightkit detect train|evaluate|predict|models``: object detection with boxes in VOC, COCO or YOLO."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from sightkit.cli._options import (DEVICES_HELP, NUM_NODES_HELP, STRATEGY_HELP, SYNC_BATCHNORM_HELP, command_line,
                                   given_options)
from sightkit.cli._output import print_json, progress_bar, status

if TYPE_CHECKING:
    from sightkit.tasks.detect.api import Detector

app = typer.Typer(help="Object detection: train on VOC / COCO / YOLO boxes, evaluate mAP, draw boxes.",
                  no_args_is_help=True)

# The options of `train` that are DetectConfig fields; their defaults below are DetectConfig's
# (literals, so that `sightkit --help` does not import pydantic; a test compares them).
_CONFIG_OPTIONS = ("model", "image_size", "batch_size", "epochs", "lr", "weight_decay", "warmup_steps", "scale_range",
                   "color_jitter", "val_fraction", "strict", "max_minutes", "max_cpu_minutes", "seed",
                   "device", "devices", "num_nodes", "strategy", "sync_batchnorm")
_DRAWN_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}


@app.command()
def train(
    ctx: typer.Context,
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder (VOC Annotations/ + JPEGImages/, YOLO "
                                                         "images/ + labels/ + data.yaml) or a COCO .json file."),
    model: str = typer.Option("fcos_resnet18", help="Detector (see 'sightkit detect models')."),
    image_size: int = typer.Option(320, help="Longer image side the model works at, px."),
    batch_size: int = typer.Option(8, help="Images per batch."),
    epochs: int = typer.Option(30, help="Epochs to train; with --resume, the new total."),
    lr: float = typer.Option(1e-3, help="Peak learning rate (AdamW, warm-up then cosine decay)."),
    weight_decay: float = typer.Option(1e-4, help="Weight decay."),
    warmup_steps: int = typer.Option(100, help="Linear warm-up steps."),
    scale_range: tuple[float, float] = typer.Option((0.75, 1.25), help="Scale jitter of the augmentation (min max)."),
    color_jitter: float = typer.Option(0.3, help="Brightness / contrast / saturation jitter; 0 turns it off."),
    val_fraction: float = typer.Option(0.15, help="Share of images held out for validation; 0 = none."),
    strict: bool = typer.Option(False, "--strict", help="Refuse the data on any box problem instead of "
                                                        "clipping or dropping the box."),
    weights: Optional[Path] = typer.Option(None, help="Start from local weights (.safetensors, a .pth state dict, "
                                                      "or a detect bundle); class layers re-initialised."),
    out: Optional[Path] = typer.Option(None, help="Run folder. \\[default: runs/detect-DATA-MODEL-DATE]"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop after this many minutes. \\[default: no limit]"),
    max_cpu_minutes: Optional[float] = typer.Option(None, help="Stop after this much CPU time of this process, a "
                                                               "fair limit on a shared machine. \\[default: none]"),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", help="Device: auto, cpu or cuda."),
    devices: int = typer.Option(1, help=DEVICES_HELP),
    num_nodes: int = typer.Option(1, help=NUM_NODES_HELP),
    strategy: str = typer.Option("auto", help=STRATEGY_HELP),
    sync_batchnorm: bool = typer.Option(False, "--sync-batchnorm", help=SYNC_BATCHNORM_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Train a detector from scratch (or from --weights) and save its bundle."""
    from sightkit.engine.quiet import quiet_libraries

    quiet_libraries()
    from sightkit.engine.distributed import is_launch_rank_zero
    from sightkit.tasks.detect.api import Detector

    given = given_options(ctx, _CONFIG_OPTIONS)
    command = command_line(ctx)
    result = Detector.train(data, out=out, weights=weights, resume=resume, progress=progress, status=status,
                            command=command, **given)
    if not is_launch_rank_zero():  # another process of a DDP run: rank 0 prints the result
        return
    training = result.meta["training"]
    summary = {"bundle": str(result.bundle), **result.meta["metrics"],
               **{k: training[k] for k in ("epochs_run", "stop_reason", "minutes", "cpu_minutes") if k in training}}
    if json_out:
        print_json(summary)
        return
    typer.echo(f"model bundle: {result.bundle}")
    for key, value in result.meta["metrics"].items():
        typer.echo(f"{key}: {value:.4f}")


@app.command()
def evaluate(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A detect bundle (folder or .sightkit file), or its "
                                                             ".onnx export."),
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset in VOC, COCO or YOLO form, the bundle's classes; "
                                                         "its training data scores its held-out images only."),
    strict: bool = typer.Option(False, "--strict", help="Refuse the data on any box problem."),
    out: Optional[Path] = typer.Option(None, help="Report folder. \\[default: runs/detect-eval-BUNDLE-DATA]"),
    allow_train_images: bool = typer.Option(False, "--allow-train-images",
                                            help="Score DATA even if it holds the model's training images "
                                                 "(flagged in the report)."),
    json_out: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """COCO mAP@[.5:.95], mAP@.5 and per-class AP; writes report.html with PR curves and examples."""
    from sightkit.engine.quiet import quiet_libraries

    quiet_libraries()
    from sightkit.tasks.detect.api import Detector
    from sightkit.tasks.detect.dataset import load_detection_data
    from sightkit.tasks.detect.train import report_data

    from sightkit.tasks.detect.evaluate import check_classes
    from sightkit.tasks.detect.evaluate import evaluate as run_evaluation

    detector = Detector.load(bundle)
    dataset = load_detection_data(data, classes=detector.classes, strict=strict)
    check_classes(dataset, detector.predictor)
    scored, notes = detector.held_out(dataset, allow_train_images)
    report_data(dataset, status)
    dataset = scored
    for note in notes:
        status(f"note: {note}")
    out = out or Path("runs") / f"detect-eval-{bundle.stem}-{data.stem}"
    with progress_bar("evaluating", len(dataset.samples), enabled=not json_out) as advance:
        report = run_evaluation(detector.predictor, dataset, out, progress=advance, notes=notes)
    for skipped in report["skipped"]:
        status(f"skipped {skipped['reason']}")
    if json_out:
        print_json({k: v for k, v in report.items() if k not in ("pr_curves_iou_50", "problems")})
        return
    _print_table(report, f"{bundle} on {data} ({report['n_images']} images, {report['n_boxes']} boxes)")


@app.command()
def predict(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A detect bundle (folder or .sightkit file), or its "
                                                             ".onnx export (runs on ONNX Runtime)."),
    images: Optional[Path] = typer.Argument(None, metavar="IMAGES|VIDEO|FRAMES|CAMERA",
                                            help="An image, a folder of images (searched recursively), a video "
                                                 "file, or a camera index (0 = the first camera)."),
    camera: Optional[int] = typer.Option(None, help="Read frames from this camera index instead of IMAGES."),
    score: Optional[float] = typer.Option(None, help="Keep boxes scoring at least this. \\[default: the bundle's]"),
    nms: Optional[float] = typer.Option(None, help="Class-wise NMS IoU threshold. \\[default: the bundle's]"),
    out: Optional[Path] = typer.Option(None, help="Folder for the images, or the video, with boxes drawn. "
                                                  "\\[default: runs/detect-predict-IMAGES]"),
    track: Optional[bool] = typer.Option(None, "--track/--no-track",
                                         help="Give each object an id across frames (ByteTrack-style); a folder "
                                              "with --track is read as a stream of frames in name order. "
                                              "\\[default: on for a video or camera, off for images]"),
    max_frames: Optional[int] = typer.Option(None, help="Stop a stream after this many frames (a camera otherwise "
                                                        "runs until Ctrl-C). \\[default: no limit]"),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON line per image or video frame."),
) -> None:
    """Find objects in images, a video, a folder of frames or a camera: boxes drawn into --out, one line per image
    or frame."""
    from sightkit.core.folders import removed_on_failure
    from sightkit.errors import ConfigError
    from sightkit.tasks.detect.api import Detector
    from sightkit.tasks.detect.video import camera_index, is_video_file

    if (images is None) == (camera is None):
        raise ConfigError("give IMAGES|VIDEO|FRAMES|CAMERA or --camera INDEX (one of them)")
    index = camera if camera is not None else camera_index(images)
    source: Path | int = index if index is not None else images
    stream = isinstance(source, int) or is_video_file(source) or (bool(track) and source.is_dir())
    paths = [] if stream else _image_paths(source)
    detector = Detector.load(bundle)
    detector.predictor.thresholds(score, nms)
    name = f"camera{source}" if isinstance(source, int) else source.stem
    out = out or Path("runs") / f"detect-predict-{name}"
    with removed_on_failure(out):
        if stream:
            suffix = ".avi" if not isinstance(source, int) and source.suffix.lower() == ".avi" else ".mp4"
            _predict_stream(detector, source, out / f"{name}{suffix}", score, nms, track is not False, max_frames,
                            json_out)
        else:
            _predict_images(detector, paths, out, score, nms, json_out)


@app.command()
def models() -> None:
    """List the detectors --model accepts."""
    from sightkit.tasks.detect.model import DETECTORS

    for name, (_, description) in DETECTORS.items():
        typer.echo(f"{name:30} {description}")


def _predict_images(detector: Detector, paths: list[Path], out: Path, score: float | None, nms: float | None,
                    json_out: bool) -> None:
    import io

    from sightkit.core.fileio import atomic_write_bytes
    from sightkit.core.images import load_image
    from sightkit.errors import DataError, ImageError
    from sightkit.tasks.detect.draw import draw_boxes

    failures = 0
    with progress_bar("detecting", len(paths), enabled=not json_out) as advance:
        for path in paths:
            advance(1)
            try:
                picture = load_image(path, "RGB")
            except ImageError as exc:
                status(f"skipped {exc}")
                failures += 1
                continue
            boxes = detector.predictor.predict(picture, score, nms)
            suffix = path.suffix.lower() if path.suffix.lower() in _DRAWN_FORMATS else ".png"
            target = out / (path.stem + suffix)
            buffer = io.BytesIO()
            options = {"quality": 92} if suffix in (".jpg", ".jpeg") else {}
            draw_boxes(picture, boxes, detector.classes).save(buffer, format=_DRAWN_FORMATS[suffix], **options)
            atomic_write_bytes(target, buffer.getvalue())
            record = {"image": str(path), "width": picture.width, "height": picture.height, "drawn": str(target),
                      "boxes": [b.to_dict() for b in boxes]}
            if json_out:
                sys.stdout.write(json.dumps(record) + "\n")
            else:
                found = ", ".join(f"{b.label} {b.score:.2f}" for b in boxes[:8]) + (" ..." if len(boxes) > 8 else "")
                typer.echo(f"{path}: {len(boxes)} boxes{': ' + found if boxes else ''}")
    if failures == len(paths):
        raise DataError(f"IMAGES: none of the {len(paths)} images could be read")
    status(f"images with boxes: {out}")


def _predict_stream(detector: Detector, source: Path | int, target: Path, score: float | None, nms: float | None,
                    track: bool, max_frames: int | None, json_out: bool) -> None:
    from sightkit.tasks.detect.video import detect_video

    summary: dict = {}
    count = 0
    for record in detect_video(detector.predictor, source, target, score=score, nms=nms, track=track,
                               max_frames=max_frames, summary=summary):
        count += 1
        if json_out:
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()
        elif count % 50 == 0:
            status(f"frame {count}")
    if summary["skipped"]:
        status(f"skipped {summary['skipped']} unreadable frames")
    status(f"{summary['frames']} frames, detector {summary['frames_per_second']} frames/s "
           f"({summary['overall_frames_per_second']} frames/s with reading, drawing and encoding)")
    if not json_out:
        shown = f"camera {source}" if isinstance(source, int) else str(source)
        typer.echo(f"{shown}: {summary['frames']} frames -> {summary['output']} "
                   f"({summary['frames_per_second']} frames/s)")


def _image_paths(images: Path) -> list[Path]:
    from sightkit.core.images import is_image_file
    from sightkit.errors import DataError

    if images.is_file():
        return [images]
    if not images.is_dir():
        raise DataError(f"IMAGES {images}: no such file or folder")
    paths = sorted(p for p in images.rglob("*") if p.is_file() and is_image_file(p))
    if not paths:
        raise DataError(f"IMAGES {images}: no image files in this folder")
    return paths


def _print_table(report: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    table = Table("class", "AP@[.5:.95]", "AP@.5", "AR@100", "boxes", title=title)
    for name, row in report["per_class"].items():
        table.add_row(name, cell(row["ap"]), cell(row["ap_50"]), cell(row["ar_100"]),
                      str(report["boxes_per_class"].get(name, 0)))
    table.add_row("all", cell(report["map"]), cell(report["map_50"]), cell(report["mar_100"]), str(report["n_boxes"]),
                  style="bold")
    Console().print(table)
    typer.echo(f"report: {report['report_html']}")
