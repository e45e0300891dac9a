"""Evaluate an anomaly detector on a folder of normal and a folder of anomalous images.

Writes ``report.json``, PNG figures (ROC curve, score histograms, heatmaps of the top-scored
images) and a self-contained ``report.html``.

Example:
    >>> report = evaluate(scorer, "test/normal", "test/anomalies", "runs/anomaly/report")  # doctest: +SKIP
    >>> report["auroc"]                                                                   # doctest: +SKIP
    0.93
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from sightkit.core.report import write_report
from sightkit.tasks.anomaly.data import list_images
from sightkit.tasks.anomaly.predict import AnomalyScore, AnomalyScorer

# Heatmaps shown in the report: the most anomalous-looking images, normal or not.
TOP_HEATMAPS = 12


def evaluate(scorer: AnomalyScorer, normal_dir: str | Path, anomaly_dir: str | Path, out_dir: str | Path, *,
             threshold: float | None = None, training_images: set[str] | None = None,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """AUROC, and false-alarm and detection rates at the threshold; writes the report to ``out_dir``.

    ``training_images`` (resolved paths) are the images the model was fitted or thresholded on:
    any of them among the normal images is counted in a note, since it scores lower than new ones.
    """
    from torchmetrics.functional.classification import binary_auroc

    normal_paths, normal_skipped = list_images(normal_dir, "NORMAL_DIR")
    anomaly_paths, anomaly_skipped = list_images(anomaly_dir, "ANOMALY_DIR")
    normal = [r for r in scorer.score(normal_paths, threshold, skip_errors=True, progress=progress) if not r.error]
    anomalous = [r for r in scorer.score(anomaly_paths, threshold, skip_errors=True, progress=progress)
                 if not r.error]
    scores = torch.tensor([r.score for r in normal + anomalous])
    labels = torch.tensor([0] * len(normal) + [1] * len(anomalous))
    limit = normal[0].threshold if normal else scorer.threshold
    report: dict[str, Any] = {
        "auroc": float(binary_auroc(scores, labels)) if normal and anomalous else None,
        "threshold": limit,
        "false_alarm_rate": float(np.mean([r.is_anomaly for r in normal])) if normal else None,
        "detection_rate": float(np.mean([r.is_anomaly for r in anomalous])) if anomalous else None,
        "n_normal": len(normal), "n_anomalous": len(anomalous),
        "method": scorer.method,
        "unreadable": normal_skipped + anomaly_skipped,
        "scores": {"normal": [r.to_dict() for r in normal], "anomalous": [r.to_dict() for r in anomalous]},
    }
    notes = []
    seen = sorted(str(p) for p in normal_paths if str(p.resolve()) in (training_images or set()))
    if seen:
        notes.append(f"{len(seen)} of the normal images were used in training (fit or threshold); "
                     "they score lower than new images would, so the AUROC is optimistic.")
    report["training_images_scored"] = len(seen)
    report["notes"] = notes
    figures = {"roc_curve": _roc_figure(normal, anomalous), "score_histogram": _histogram(normal, anomalous, limit),
               "top_heatmaps": _heatmap_grid(normal, anomalous)}
    info = {"normal images": str(normal_dir), "anomalous images": str(anomaly_dir), "method": scorer.method,
            "threshold": f"{limit:.4g}" + (" (given)" if threshold is not None else " (bundle default)")}
    summary = ["auroc", "threshold", "false_alarm_rate", "detection_rate", "n_normal", "n_anomalous"]
    html = write_report(out_dir, report, figures, "Anomaly detection", summary_keys=summary, info=info, notes=notes)
    report["report_html"] = str(html)
    return report


def _roc_figure(normal: list[AnomalyScore], anomalous: list[AnomalyScore]) -> Figure:
    from sklearn.metrics import roc_curve

    figure = Figure(figsize=(4.5, 4.2))
    axes = figure.subplots()
    if normal and anomalous:
        labels = [0] * len(normal) + [1] * len(anomalous)
        fpr, tpr, _ = roc_curve(labels, [r.score for r in normal + anomalous])
        axes.plot(fpr, tpr)
    axes.plot([0, 1], [0, 1], ":", color="grey")
    axes.set(xlabel="false-alarm rate (normal flagged)", ylabel="detection rate (anomalies flagged)",
             title="ROC curve")
    figure.tight_layout()
    return figure


def _histogram(normal: list[AnomalyScore], anomalous: list[AnomalyScore], threshold: float) -> Figure:
    figure = Figure(figsize=(6, 3.5))
    axes = figure.subplots()
    values = [r.score for r in normal + anomalous]
    bins = np.linspace(min(values + [threshold]), max(values + [threshold]), 40)
    axes.hist([r.score for r in normal], bins=bins, alpha=0.6, label="normal")
    axes.hist([r.score for r in anomalous], bins=bins, alpha=0.6, label="anomalous")
    axes.axvline(threshold, color="black", linestyle="--", label="threshold")
    axes.set(xlabel="anomaly score", ylabel="images")
    axes.legend()
    figure.tight_layout()
    return figure


def _heatmap_grid(normal: list[AnomalyScore], anomalous: list[AnomalyScore]) -> Figure:
    ranked = sorted([(r, "normal") for r in normal] + [(r, "anomalous") for r in anomalous],
                    key=lambda item: -item[0].score)[:TOP_HEATMAPS]
    columns = 4
    rows = max(1, -(-len(ranked) // columns))
    figure = Figure(figsize=(2.6 * columns, 2.9 * rows))
    for index, axes in enumerate(figure.subplots(rows, columns, squeeze=False).ravel()):
        axes.axis("off")
        if index < len(ranked):
            result, truth = ranked[index]
            axes.imshow(result.overlay())
            axes.set_title(f"{Path(result.path).name} ({truth})", fontsize=8)
    figure.tight_layout()
    return figure
