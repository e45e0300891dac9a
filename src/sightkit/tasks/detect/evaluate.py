"""Evaluate a detector on a dataset: COCO mAP, per-class AP, PR curves and example images in report.html.

Images are fed as in training (shrunk to the bundle's ``image_size``) and detections are
scored in the original pixels against every true box, ignored ones as crowd boxes (see
:mod:`.metrics` for the convention), keeping detections down to a 0.05 score as COCO
evaluations do. The data's class names must be the bundle's (a box of a class the bundle
does not know is listed and dropped; ``strict`` refuses it).

Example:
    >>> report = evaluate(predictor, "shapes_test/", "runs/detect-eval")  # doctest: +SKIP
    >>> report["map_50"]  # doctest: +SKIP
    0.934
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from sightkit.core.folders import removed_on_failure
from sightkit.core.images import load_image
from sightkit.core.report import write_report
from sightkit.errors import DataError, ImageError
from sightkit.tasks.detect.dataset import DetectionData, Sample, load_detection_data
from sightkit.tasks.detect.metrics import detection_metric, metric_prediction, metric_target, pr_curves, summarise
from sightkit.tasks.detect.predict import Box, DetectPredictor

EVAL_SCORE_THRESHOLD = 0.05  # COCO convention: low-score detections extend the precision-recall curve
EXAMPLES = 6  # images drawn in the report
_BATCH = 8


def evaluate(predictor: DetectPredictor, data: str | Path | DetectionData, out_dir: str | Path | None = None, *,
             strict: bool = False, progress: Callable[[int], None] | None = None,
             notes: Sequence[str] = ()) -> dict[str, Any]:
    """mAP@[.5:.95], mAP@.5, mAP@.75, AR@100, per-class AP and AP@.5; ``report.html`` when ``out_dir`` is given.

    ``notes``: what the report should say about the data (e.g. from
    :func:`~sightkit.tasks.detect.eval_data.held_out_data`: which images were scored).
    """
    dataset = data if isinstance(data, DetectionData) else load_detection_data(
        data, classes=predictor.classes, strict=strict)
    check_classes(dataset, predictor)
    metric = detection_metric(extended=True)
    examples: list[tuple[Sample, list[Box]]] = []
    skipped: list[dict[str, str]] = []
    seconds, scored = 0.0, 0
    for start in range(0, len(dataset.samples), _BATCH):
        chunk = dataset.samples[start:start + _BATCH]
        images, kept = [], []
        for sample in chunk:
            try:
                images.append(load_image(sample.image, "RGB"))
                kept.append(sample)
            except ImageError as exc:
                skipped.append({"path": str(sample.image), "reason": str(exc)})
        if images:
            began = time.perf_counter()
            found = predictor.predict_batch(images, score=EVAL_SCORE_THRESHOLD, nms=predictor.nms)
            seconds += time.perf_counter() - began
            scored += len(images)
            metric.update([metric_prediction(_as_output(boxes, predictor.classes)) for boxes in found],
                          [metric_target(_as_target(sample), len(predictor.classes)) for sample in kept])
            examples.extend((s, b) for s, b in zip(kept, found) if len(examples) < EXAMPLES)
        if progress is not None:
            progress(len(chunk))
    if scored == 0:
        raise DataError(f"DATA {dataset.root}: no image could be evaluated"
                        + (f" ({skipped[0]['reason']})" if skipped else ""))
    result = metric.compute()
    report: dict[str, Any] = {
        "n_images": scored, "n_boxes": sum(dataset.box_counts().values()), "format": dataset.format,
        **summarise(result, predictor.classes),
        "seconds_per_image": round(seconds / scored, 4),
        "model": predictor.meta["architecture"]["name"], "image_size": predictor.image_size,
        "protocol": ("COCO mAP (pycocotools through torchmetrics): 101-point interpolated AP, IoU 0.50:0.05:0.95, "
                     f"<= 100 detections per image, score >= {EVAL_SCORE_THRESHOLD}, class-wise NMS IoU "
                     f"{predictor.nms}; difficult / crowd / ignore-region boxes count as crowd (ignored)"),
        "boxes_per_class": dataset.box_counts(),
        "pr_curves_iou_50": pr_curves(result, predictor.classes),
        "problems": dataset.problems, "skipped": skipped, "data_notes": list(notes),
    }
    if out_dir is not None:
        _write(report, examples, predictor, Path(out_dir))
    return report


def check_classes(dataset: DetectionData, predictor: DetectPredictor) -> None:
    """Refuse data in which no box is of the model's classes (:class:`DataError`)."""
    if dataset.samples and not any((~s.ignore).any() for s in dataset.samples):
        raise DataError(f"DATA {dataset.root}: no box of the model's classes ({', '.join(predictor.classes[:10])}) "
                        "to evaluate against; is this the kind of data the model was trained for?")


def _as_output(boxes: list[Box], classes: list[str]) -> dict[str, torch.Tensor]:
    return {"boxes": torch.tensor([[b.x1, b.y1, b.x2, b.y2] for b in boxes], dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor([b.score for b in boxes], dtype=torch.float32),
            "labels": torch.tensor([classes.index(b.label) + 1 for b in boxes], dtype=torch.int64)}


def _as_target(sample: Sample) -> dict[str, torch.Tensor]:
    return {"boxes": torch.from_numpy(sample.boxes), "labels": torch.from_numpy(sample.labels + 1),
            "iscrowd": torch.from_numpy(sample.ignore.astype("int64"))}


def _write(report: dict[str, Any], examples: list[tuple[Sample, list[Box]]], predictor: DetectPredictor,
           out_dir: Path) -> None:
    from sightkit.tasks.detect.plots import example_grid, pr_figure

    figures = {}
    if report["pr_curves_iou_50"]:
        figures["precision_recall_iou_50"] = pr_figure(report["pr_curves_iou_50"], report["per_class"])
    if examples:
        figures["examples"] = example_grid(examples, predictor.classes, predictor.score)
    info = {"model": report["model"], "image size": predictor.image_size,
            "training": predictor.meta.get("training", {}).get("command") or "",
            "data": f"{report['format'].upper()}, {report['n_images']} images, {report['n_boxes']} boxes"}
    with removed_on_failure(out_dir) as folder:
        report["report_html"] = str(write_report(
            folder, report, figures, title="sightkit detection report", info=info,
            summary_keys=["map", "map_50", "map_75", "mar_100", "n_images", "n_boxes", "seconds_per_image"],
            notes=[*report["data_notes"], report["protocol"]]))
