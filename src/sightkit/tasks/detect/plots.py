"""Figures of the detection report: precision-recall curves per class, example images with boxes."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from sightkit.core.images import load_image
from sightkit.tasks.detect.dataset import Sample
from sightkit.tasks.detect.draw import class_colour, draw_boxes
from sightkit.tasks.detect.predict import Box

_COLUMNS = 3


def pr_figure(curves: dict[str, list[float]], per_class: dict[str, dict]) -> Figure:
    """Precision against recall at IoU 0.5, one line per class, AP@.5 in the legend."""
    figure = Figure(figsize=(6.4, 4.8))
    axes = figure.subplots()
    recall = np.linspace(0, 1, 101)
    classes = list(per_class)
    for name, precision in curves.items():
        ap = per_class.get(name, {}).get("ap_50")
        axes.plot(recall, precision, label=f"{name} (AP@.5 {ap:.3f})" if ap is not None else name,
                  color=np.array(class_colour(name, classes)) / 255)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    axes.set_title("precision-recall at IoU 0.5 (COCO 101-point interpolation)")
    figure.tight_layout()
    return figure


def example_grid(examples: list[tuple[Sample, list[Box]]], classes: list[str], score: float) -> Figure:
    """Images with predicted boxes (score >= ``score``, coloured) and true boxes (dashed white)."""
    rows = (len(examples) + _COLUMNS - 1) // _COLUMNS
    figure = Figure(figsize=(4.2 * _COLUMNS, 3.4 * rows + 0.4))
    axes = figure.subplots(rows, _COLUMNS, squeeze=False)
    for index, (sample, boxes) in enumerate(examples):
        truth = [Box(classes[label] if label >= 0 else "ignore", 1.0, *box)
                 for box, label in zip(sample.boxes.tolist(), sample.labels.tolist())]
        shown = [b for b in boxes if b.score >= score]
        image = draw_boxes(load_image(sample.image, "RGB"), shown, classes, truth=truth)
        axis = axes[index // _COLUMNS][index % _COLUMNS]
        axis.imshow(image)
        axis.set_title(f"{sample.image.name}: {len(shown)} found, {len(truth)} true", fontsize=8)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(f"predicted boxes (score >= {score}) and true boxes (dashed white)")
    figure.tight_layout()
    return figure
