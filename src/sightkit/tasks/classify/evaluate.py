"""Evaluate a classifier on labelled images: metrics, calibration, worst errors, report.

Example:
    >>> report = evaluate(Predictor.from_bundle("runs/x/model"), "data/test", out_dir="runs/x/report")  # doctest: +SKIP
    >>> report["accuracy"], report["macro_f1"], report["ece"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sightkit import __version__
from sightkit.core.images import load_image
from sightkit.core.report import write_report
from sightkit.errors import ConfigError, DataError
from sightkit.tasks.classify.calibration import reliability_bins
from sightkit.tasks.classify.eval_data import EvalData, external_data
from sightkit.tasks.classify.medical import medical_metrics, uses_medical_metrics
from sightkit.tasks.classify.metrics import classification_metrics
from sightkit.tasks.classify.plots import (plot_confusion_matrix, plot_image_grid, plot_reliability, plot_roc,
                                           plot_training_curves)
from sightkit.tasks.classify.predict import Predictor

WORST_SHOWN = 16
SUMMARY_KEYS = ("split", "n", "accuracy", "top5_accuracy", "macro_f1", "balanced_accuracy", "ece",
                "ece_uncalibrated", "temperature", "nll")


def evaluate(predictor: Predictor, data: EvalData | str | Path | Sequence[tuple[Path, str]],
             out_dir: str | Path | None = None, batch_size: int = 64,
             progress: Callable[[int], None] | None = None, *, task: str | None = None,
             positive_class: str | None = None, tta: bool = False) -> dict[str, Any]:
    """Metrics of ``predictor`` on ``data``: an :class:`EvalData`, a folder, a manifest, or ``(path, class)`` pairs.

    The report says which images it scored (``split``, ``data``, ``n``, ``scored``) and, for a
    trained bundle, describes the run (``run``) and its per-epoch ``history``. With ``out_dir``,
    also writes ``report.json``, PNG plots and ``report.html`` there. Plain folders and pairs are
    scored as given; :func:`~sightkit.tasks.classify.eval_data.choose_eval_data` checks them first.

    With two classes or ``task="medical"``, ``report["medical"]`` holds sensitivity, specificity,
    PPV, NPV and AUROC with bootstrap 95% intervals (:mod:`~sightkit.tasks.classify.medical`) for
    ``positive_class`` (default: the bundle's decision, else the naming rule), at the bundle's
    stored threshold when it has one for that class, and the HTML report shows the ROC curve.

    With ``tta`` the metrics are those of the mean logits of the test-time views
    (:mod:`~sightkit.tasks.classify.tta`), and ``report["without_tta"]`` holds the plain ones.
    """
    medical = uses_medical_metrics(predictor.classes, task)
    chosen = data if isinstance(data, EvalData) else external_data(data)
    pairs, skipped = chosen.pairs, list(chosen.skipped)
    index = {name: i for i, name in enumerate(predictor.classes)}
    unknown = sorted({c for _, c in pairs} - set(index))
    if unknown:
        raise DataError(f"DATA {chosen.data}: classes unknown to the model: {', '.join(unknown)} "
                        f"(model classes: {', '.join(predictor.classes)})")
    paths = [p for p, _ in pairs]
    labels_all = [index[c] for _, c in pairs]
    kept, logit_batches = [], []
    compute = predictor.view_logits if tta else predictor.logits
    for indices, logits, errors in predictor.iter_outputs(paths, compute, batch_size):
        skipped += [(paths[i], message) for i, message in errors]
        kept += indices
        logit_batches.append(logits)
        if progress is not None:
            progress(len(indices) + len(errors))
    if not kept:
        raise DataError(f"DATA {chosen.data}: no readable images to evaluate")
    logits = torch.cat([b for b in logit_batches if b.numel()])
    labels = np.asarray([labels_all[i] for i in kept])
    report: dict[str, Any] = {"split": chosen.split, "data": chosen.data}
    if tta:  # (N, views, classes): the first view is the image as given
        plain = classification_metrics(logits[:, 0], labels, predictor.classes, temperature=predictor.temperature)
        report["tta"] = {"views": logits.shape[1], "flip": predictor.tta_flip}
        report["without_tta"] = {k: plain[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "ece")}
        logits = logits.mean(1)
    report |= classification_metrics(logits, labels, predictor.classes, temperature=predictor.temperature)
    report["scored"] = chosen.describe(report["n"])
    if chosen.training_images:
        report["training_images"] = chosen.training_images
    report["notes"] = list(chosen.notes)
    report["run"] = run_summary(predictor.meta)
    history = predictor.meta.get("training", {}).get("history") or []
    probs = torch.softmax(logits / predictor.temperature, 1).numpy()
    raw_probs = torch.softmax(logits, 1).numpy()
    worst = np.argsort(probs[np.arange(len(labels)), labels])[:WORST_SHOWN]
    report["worst"] = [
        {"path": str(paths[kept[i]]), "true": predictor.classes[labels[i]],
         "predicted": predictor.classes[int(probs[i].argmax())], "score": float(probs[i].max())}
        for i in worst if probs[i].argmax() != labels[i]
    ]
    report["skipped"] = [{"path": str(p), "reason": r} for p, r in skipped]
    if medical:
        report["medical"] = _medical(predictor, probs, labels, positive_class)
    if out_dir is not None:
        report["report_html"] = str(_write_files(predictor, report, history, probs, raw_probs, labels, out_dir))
    return report


def _medical(predictor: Predictor, probs: np.ndarray, labels: np.ndarray, positive: str | None) -> dict[str, Any]:
    """Medical metrics at the bundle's stored threshold (when it is for the same positive class), else argmax."""
    decision = predictor.meta.get("decision") or {}
    positive = positive or decision.get("positive_class")
    stored = decision.get("threshold") if decision.get("positive_class") in (None, positive) else None
    metrics = medical_metrics(probs, labels, predictor.classes, positive, stored)
    if stored is not None:
        metrics["threshold_source"] = (f"bundle: sensitivity {decision['target_sensitivity']:g} targeted on "
                                       f"the {decision['chosen_on']} split")
    return metrics


def run_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """The facts of the training run behind a bundle, for reports: model, data, splits, epochs, time, version.

    Example:
        >>> meta = {"architecture": {"name": "skcnn_small"}, "sightkit_version": "0.4.0",
        ...         "training": {"epochs_run": 3, "config": {"epochs": 30}, "stopped": "max_minutes"}}
        >>> run_summary(meta)
        {'model': 'skcnn_small', 'epochs': '3 of 30', 'stopped': 'max_minutes', 'sightkit version': '0.4.0'}
    """
    training = meta.get("training") or {}
    config = training.get("config") or {}
    splits = training.get("splits") or {}
    epochs = training.get("epochs_run")
    facts = {
        "model": (meta.get("architecture") or {}).get("name"),
        "trained on": training.get("data"),
        "split sizes": ", ".join(f"{k} {splits[k]}" for k in ("train", "val", "test") if k in splits) or None,
        "epochs": (f"{epochs} of {config['epochs']}" if epochs is not None and config.get("epochs") else epochs),
        "stopped": training.get("stopped") if training.get("stopped") not in (None, "completed") else None,
        "training time": _duration(training.get("duration_s")),
        "trained": training.get("started") or meta.get("created"),
        "sightkit version": meta.get("sightkit_version") or (__version__ if training else None),
    }
    return {key: value for key, value in facts.items() if value is not None}


def _write_files(predictor: Predictor, report: dict[str, Any], history: list[dict[str, float]], probs: np.ndarray,
                 raw_probs: np.ndarray, labels: np.ndarray, out_dir: str | Path) -> Path:
    figures = {}
    if history:
        figures["training_curves"] = plot_training_curves(history)
    figures["confusion_matrix"] = plot_confusion_matrix(report["confusion_matrix"], predictor.classes)
    figures["reliability"] = plot_reliability(reliability_bins(probs, labels), report["ece"],
                                              reliability_bins(raw_probs, labels), report["ece_uncalibrated"])
    if "medical" in report:
        figures["roc_curve"] = plot_roc(report["medical"])
    if report["worst"]:
        images = [load_image(w["path"], predictor.mode) for w in report["worst"]]
        captions = [f"{w['true']} -> {w['predicted']} ({w['score']:.2f})" for w in report["worst"]]
        figures["worst_classified"] = plot_image_grid(images, captions)
        heatmaps = _gradcam_overlays(predictor, [w["path"] for w in report["worst"]])
        if heatmaps:
            figures["worst_gradcam"] = plot_image_grid(heatmaps, captions)
    evaluated = {"scored": report["scored"], "evaluated": datetime.now().astimezone().isoformat(timespec="seconds")}
    return write_report(
        out_dir, report, figures, title="sightkit classification report",
        summary_keys=[k for k in SUMMARY_KEYS if k in report],
        info={**evaluated, **report["run"]}, notes=report["notes"],
    )


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _gradcam_overlays(predictor: Predictor, paths: list[str]) -> list[Any]:
    """Grad-CAM overlays of the predicted class; none where Grad-CAM cannot apply (no conv, ONNX)."""
    from sightkit.explain.api import explain_images

    try:
        return [r.overlay for r in explain_images(predictor, paths, "gradcam", batch_size=len(paths))]
    except ConfigError:
        return []
