"""Evaluate a classifier on labelled images: metrics, calibration, worst errors, report.

Example:
    >>> report = evaluate(Predictor.from_bundle("runs/x/model"), "data/test", out_dir="runs/x/report")  # doctest: +SKIP
    >>> report["accuracy"], report["macro_f1"], report["ece"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sightkit.core.images import load_image
from sightkit.core.report import write_report
from sightkit.data.discover import read_labelled_images
from sightkit.errors import ConfigError, DataError
from sightkit.tasks.classify.calibration import reliability_bins
from sightkit.tasks.classify.metrics import classification_metrics
from sightkit.tasks.classify.plots import plot_confusion_matrix, plot_image_grid, plot_reliability
from sightkit.tasks.classify.predict import Predictor

WORST_SHOWN = 16


def evaluate(predictor: Predictor, data: str | Path | Sequence[tuple[Path, str]], out_dir: str | Path | None = None,
             batch_size: int = 64, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Metrics of ``predictor`` on ``data`` (a folder, a manifest, or ``(path, class)`` pairs).

    With ``out_dir``, also writes ``report.json``, PNG plots and ``report.html`` there.
    """
    if isinstance(data, (str, Path)):
        pairs, skipped = read_labelled_images(data)
    else:
        pairs, skipped = list(data), []
    index = {name: i for i, name in enumerate(predictor.classes)}
    unknown = sorted({c for _, c in pairs} - set(index))
    if unknown:
        raise DataError(f"DATA {data if isinstance(data, (str, Path)) else '<pairs>'}: classes unknown to the "
                        f"model: {', '.join(unknown)} (model classes: {', '.join(predictor.classes)})")
    paths = [p for p, _ in pairs]
    labels_all = [index[c] for _, c in pairs]
    kept, logit_batches = [], []
    for indices, logits, errors in predictor.iter_logits(paths, batch_size):
        skipped += [(paths[i], message) for i, message in errors]
        kept += indices
        logit_batches.append(logits)
        if progress is not None:
            progress(len(indices) + len(errors))
    if not kept:
        raise DataError(f"DATA {data}: no readable images to evaluate")
    logits = torch.cat([b for b in logit_batches if b.numel()])
    labels = np.asarray([labels_all[i] for i in kept])
    report = classification_metrics(logits, labels, predictor.classes, temperature=predictor.temperature)
    probs = torch.softmax(logits / predictor.temperature, 1).numpy()
    raw_probs = torch.softmax(logits, 1).numpy()
    worst = np.argsort(probs[np.arange(len(labels)), labels])[:WORST_SHOWN]
    report["worst"] = [
        {"path": str(paths[kept[i]]), "true": predictor.classes[labels[i]],
         "predicted": predictor.classes[int(probs[i].argmax())], "score": float(probs[i].max())}
        for i in worst if probs[i].argmax() != labels[i]
    ]
    report["skipped"] = [{"path": str(p), "reason": r} for p, r in skipped]
    if out_dir is not None:
        figures = {
            "confusion_matrix": plot_confusion_matrix(report["confusion_matrix"], predictor.classes),
            "reliability": plot_reliability(reliability_bins(probs, labels), report["ece"],
                                            reliability_bins(raw_probs, labels), report["ece_uncalibrated"]),
        }
        if report["worst"]:
            images = [load_image(w["path"], predictor.mode) for w in report["worst"]]
            captions = [f"{w['true']} -> {w['predicted']} ({w['score']:.2f})" for w in report["worst"]]
            figures["worst_classified"] = plot_image_grid(images, captions)
            heatmaps = _gradcam_overlays(predictor, [w["path"] for w in report["worst"]])
            if heatmaps:
                figures["worst_gradcam"] = plot_image_grid(heatmaps, captions)
        report["report_html"] = str(write_report(
            out_dir, report, figures, title="sightkit classification report",
            summary_keys=[k for k in ("accuracy", "top5_accuracy", "macro_f1", "balanced_accuracy", "ece",
                                      "ece_uncalibrated", "temperature", "nll", "n") if k in report],
        ))
    return report


def _gradcam_overlays(predictor: Predictor, paths: list[str]) -> list[Any]:
    """Grad-CAM overlays of the predicted class; none where Grad-CAM cannot apply (no conv, ONNX)."""
    from sightkit.explain.api import explain_images

    try:
        return [r.overlay for r in explain_images(predictor, paths, "gradcam", batch_size=len(paths))]
    except ConfigError:
        return []
