"""Classification metrics from logits, as one JSON-serialisable dict (computed with torchmetrics).

Conventions:

* Predictions are the argmax of the logits; temperature scaling never changes them, so only
  ``ece`` and ``nll`` depend on ``temperature``.
* A class that never occurs in the labels has recall 0.0 and F1 0.0 and a class that is never
  predicted has precision 0.0 (torchmetrics' ``zero_division=0``), so the JSON holds no NaN.
* ``macro_precision`` / ``macro_recall`` / ``macro_f1`` follow torchmetrics: the unweighted mean
  over classes, leaving out only classes that are neither in the labels nor predicted.
* ``balanced_accuracy`` is the mean recall over the classes present in the labels (the
  scikit-learn definition); it equals ``macro_recall`` whenever every class is present and
  predictions stay within the present classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from sightkit.errors import ConfigError, DataError
from sightkit.tasks.classify.calibration import _check_scores, expected_calibration_error

# Top-k accuracy reported besides top-1; only meaningful with at least this many classes.
_TOP_K = 5


def classification_metrics(
    logits: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | Sequence[int],
    class_names: list[str],
    temperature: float = 1.0,
) -> dict:
    """Accuracy, per-class and macro scores, confusion matrix and calibration of a classifier.

    ``logits`` has shape (N, C), ``labels`` holds N class indices and ``class_names`` the C
    names in index order. Returns plain Python floats/ints and lists with keys
    ``n``, ``accuracy``, ``top5_accuracy`` (only when C >= 5), ``balanced_accuracy``,
    ``macro_precision``, ``macro_recall``, ``macro_f1``, ``nll``, ``ece``,
    ``ece_uncalibrated``, ``temperature``, ``confusion_matrix`` (rows = true class,
    columns = predicted class) and ``per_class`` (``{name: {precision, recall, f1, support}}``).
    ``nll`` and ``ece`` use ``softmax(logits / temperature)``; ``ece_uncalibrated`` uses T = 1.

    Example:
        >>> logits = torch.tensor([[2.0, 0.1], [0.2, 1.5], [1.0, 0.0]])
        >>> m = classification_metrics(logits, torch.tensor([0, 1, 1]), ["cat", "dog"])
        >>> round(m["accuracy"], 3), m["confusion_matrix"]
        (0.667, [[1, 0], [1, 1]])
    """
    if not temperature > 0:
        raise ConfigError(f"temperature must be positive, got {temperature}.")
    z = torch.as_tensor(logits).detach().to(device="cpu", dtype=torch.float64)
    y = torch.as_tensor(labels).detach().to(device="cpu", dtype=torch.long)
    _check_scores(z.numpy(), y.numpy(), "logits")
    num_classes = z.shape[1]
    if len(class_names) != num_classes:
        raise DataError(
            f"got {len(class_names)} class names for logits with {num_classes} columns; "
            "pass one name per class, in index order."
        )
    if len(set(class_names)) != num_classes:
        raise DataError("class names must be unique; per-class metrics are keyed by name.")

    probs = torch.softmax(z / temperature, dim=1)
    preds = probs.argmax(dim=1)
    precision = multiclass_precision(preds, y, num_classes, average=None)
    recall = multiclass_recall(preds, y, num_classes, average=None)
    f1 = multiclass_f1_score(preds, y, num_classes, average=None)
    support = torch.bincount(y, minlength=num_classes)

    metrics: dict = {
        "n": int(y.numel()),
        "accuracy": _scalar(multiclass_accuracy(preds, y, num_classes, average="micro")),
    }
    if num_classes >= _TOP_K:
        metrics["top5_accuracy"] = _scalar(
            multiclass_accuracy(probs, y, num_classes, average="micro", top_k=_TOP_K)
        )
    metrics.update(
        {
            "balanced_accuracy": _scalar(recall[support > 0].mean()),
            "macro_precision": _scalar(multiclass_precision(preds, y, num_classes, average="macro")),
            "macro_recall": _scalar(multiclass_recall(preds, y, num_classes, average="macro")),
            "macro_f1": _scalar(multiclass_f1_score(preds, y, num_classes, average="macro")),
            "nll": _scalar(F.cross_entropy(z / temperature, y)),
            "ece": expected_calibration_error(probs.numpy(), y.numpy()),
            "ece_uncalibrated": expected_calibration_error(
                torch.softmax(z, dim=1).numpy(), y.numpy()
            ),
            "temperature": float(temperature),
            "confusion_matrix": multiclass_confusion_matrix(preds, y, num_classes).tolist(),
            "per_class": {
                name: {
                    "precision": _scalar(precision[i]),
                    "recall": _scalar(recall[i]),
                    "f1": _scalar(f1[i]),
                    "support": int(support[i]),
                }
                for i, name in enumerate(class_names)
            },
        }
    )
    return metrics


def _scalar(value: torch.Tensor) -> float:
    """A 0-d tensor as a plain float, with NaN (an undefined score) written as 0.0."""
    result = float(value)
    return 0.0 if result != result else result
