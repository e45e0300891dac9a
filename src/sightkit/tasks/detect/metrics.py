"""COCO-style detection metrics through torchmetrics' ``MeanAveragePrecision`` (pycocotools backend).

Convention (the COCO evaluation's): AP is the area under the 101-point interpolated
precision-recall curve; ``map`` averages it over IoU thresholds 0.50:0.05:0.95 and over
classes, ``map_50`` is at IoU 0.5; at most 100 detections per image count. Ignored boxes
(VOC ``difficult``, COCO ``iscrowd``, ignore regions) are passed as crowd boxes: a detection
that falls on one is neither a true nor a false positive. An ignore region of no class is
repeated for every class, so no detection inside it counts against any class.

Example:
    >>> metric = detection_metric()
    >>> pred = {"boxes": torch.tensor([[0., 0, 10, 10]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}
    >>> true = {"boxes": torch.tensor([[0., 0, 10, 10]]), "labels": torch.tensor([1]), "iscrowd": torch.tensor([0])}
    >>> metric.update([metric_prediction(pred)], [metric_target(true, 2)])
    >>> round(float(metric.compute()["map_50"]), 3)
    1.0
"""

from __future__ import annotations

from typing import Any

import torch


def detection_metric(extended: bool = False) -> Any:
    """A ``MeanAveragePrecision`` for xyxy boxes with per-class AP (``extended``: the precision arrays too)."""
    from torchmetrics.detection import MeanAveragePrecision

    return MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=True, extended_summary=extended,
                                backend="pycocotools")


def metric_prediction(output: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A model's output (labels 1..C) as the metric's prediction (labels 0..C-1)."""
    return {"boxes": output["boxes"].detach().float().cpu(), "scores": output["scores"].detach().float().cpu(),
            "labels": output["labels"].detach().cpu().long() - 1}


def metric_target(target: dict[str, torch.Tensor], num_classes: int) -> dict[str, torch.Tensor]:
    """A dataset target (labels 1..C, 0 for a class-less ignore region; ``iscrowd``) as the metric's target."""
    boxes, labels = target["boxes"].float().cpu(), target["labels"].long().cpu() - 1
    crowd = target.get("iscrowd", torch.zeros_like(labels)).long().cpu()
    regions = labels < 0
    if regions.any():  # a class-less ignore region: one crowd box per class
        count = int(regions.sum())
        boxes = torch.cat([boxes[~regions], boxes[regions].repeat(num_classes, 1)])
        region_labels = torch.arange(num_classes).repeat_interleave(count)
        labels = torch.cat([labels[~regions], region_labels])
        crowd = torch.cat([crowd[~regions], torch.ones(count * num_classes, dtype=torch.long)])
    return {"boxes": boxes, "labels": labels, "iscrowd": crowd}


def summarise(result: dict[str, torch.Tensor], classes: list[str]) -> dict[str, Any]:
    """``map``, ``map_50``, ``map_75``, ``mar_100`` and per-class AP / AP@.5 from a computed metric.

    A class with no true box in the data has ``None`` (COCO's -1) as its AP.
    """
    def value(tensor: torch.Tensor) -> float | None:
        number = float(tensor)
        return None if number < 0 else round(number, 4)

    summary: dict[str, Any] = {k: value(result[k]) for k in ("map", "map_50", "map_75", "mar_100")}
    ids = [int(i) for i in torch.atleast_1d(result["classes"])]
    per_ap = torch.atleast_1d(result["map_per_class"])
    per_ar = torch.atleast_1d(result["mar_100_per_class"])
    precision = result.get("precision")
    per_class: dict[str, dict[str, float | None]] = {name: {"ap": None, "ap_50": None, "ar_100": None}
                                                     for name in classes}
    for position, class_id in enumerate(ids):
        if not 0 <= class_id < len(classes):
            continue
        row = {"ap": value(per_ap[position]) if per_ap.numel() > position else None,
               "ap_50": None, "ar_100": value(per_ar[position]) if per_ar.numel() > position else None}
        if precision is not None:  # T x R x K x A x M: IoU 0.5, every recall, this class, all areas, 100 dets
            curve = precision[0, :, position, 0, -1]
            row["ap_50"] = None if (curve < 0).all() else round(float(curve.clamp(min=0).mean()), 4)
        per_class[classes[class_id]] = row
    summary["per_class"] = per_class
    return summary


def pr_curves(result: dict[str, torch.Tensor], classes: list[str]) -> dict[str, list[float]]:
    """Precision at recall 0, 0.01, ..., 1 (IoU 0.5, all areas, 100 detections) per class with true boxes."""
    precision = result.get("precision")
    if precision is None:
        return {}
    curves = {}
    for position, class_id in enumerate(int(i) for i in torch.atleast_1d(result["classes"])):
        curve = precision[0, :, position, 0, -1]
        if 0 <= class_id < len(classes) and not (curve < 0).all():
            curves[classes[class_id]] = [round(float(v), 4) for v in curve.clamp(min=0)]
    return curves
