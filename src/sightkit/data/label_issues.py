"""Find mislabelled images: out-of-sample probabilities by k-fold cross-validation, then cleanlab.

Every labelled image of ``data`` (all splits pooled) is scored by a sightkit classifier that did
not see it: the images are cut into ``folds`` stratified folds, one classifier is trained per fold
on the others (:meth:`~sightkit.tasks.classify.api.Classifier.train`, which carves its own
validation split) and predicts the held-out fold with calibrated probabilities. cleanlab's
``find_label_issues`` (confident learning) then flags the images whose given label disagrees
with those probabilities, ranked by cleanlab's label-quality score (self-confidence: the
probability of the given label; low is suspicious).

Example:
    >>> result = find_label_issues("data/flowers", folds=5, epochs=15)  # doctest: +SKIP
    >>> result["issues"][0]  # doctest: +SKIP
    {'rank': 1, 'path': '.../rose/12.jpg', 'given': 'rose', 'suggested': 'tulip', 'quality': 0.003, 'split': 'train'}
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sightkit.core.fileio import atomic_write_text
from sightkit.data.discover import discover
from sightkit.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "skcnn_tiny"
DEFAULT_FOLDS = 5
DEFAULT_EPOCHS = 15


def find_label_issues(data: str | Path, *, model: str = DEFAULT_MODEL, folds: int = DEFAULT_FOLDS,
                      epochs: int = DEFAULT_EPOCHS, seed: int = 0, status: Callable[[str], None] = log.info,
                      **train_options: Any) -> dict[str, Any]:
    """Cross-validate on ``data`` and return the ranked label issues with every image's scores.

    ``train_options`` go to :meth:`Classifier.train` (``hflip``, ``batch_size``, ``img_size``,
    ``device``, ...). Fewer images in a class than ``folds`` reduces the folds (said through
    ``status``); a class with a single image, or a single class, is a :class:`DataError`.
    """
    from cleanlab.filter import find_label_issues as cleanlab_issues
    from cleanlab.rank import get_label_quality_scores

    from sightkit.tasks.classify.config import make_config
    from sightkit.tasks.classify.model import check_model_options

    config = make_config(model=model, epochs=epochs, seed=seed, **train_options)  # options checked before any work
    check_model_options(config.model, config.pretrained, config.weights)
    splits = discover(data, val_fraction=0.0, test_fraction=0.0, seed=seed)
    for _, reason in splits.skipped:
        status(f"skipped {reason}")
    samples = [(s.path, s.label, name) for name in ("train", "val", "test") for s in getattr(splits, name)]
    labels = np.array([label for _, label, _ in samples])
    folds = _fold_count(labels, splits.classes, folds, status)
    probs = _out_of_sample_probabilities(samples, splits.classes, folds, model, epochs, seed, status, train_options)
    flagged = cleanlab_issues(labels, probs, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(labels, probs, method="self_confidence")
    suggested = probs.argmax(1)
    rows = [{"path": str(path), "given": splits.classes[label], "suggested": splits.classes[int(suggested[i])],
             "quality": round(float(quality[i]), 6), "split": split}
            for i, (path, label, split) in enumerate(samples)]
    issues = [{"rank": rank, **rows[i]} for rank, i in enumerate(flagged.tolist(), start=1)]
    return {
        "data": str(splits.source), "classes": splits.classes, "n": len(samples), "folds": folds, "model": model,
        "epochs": epochs, "seed": seed, "out_of_sample_accuracy": round(float((suggested == labels).mean()), 4),
        "n_issues": len(issues), "issues": issues,
        "per_class": {name: {"images": int((labels == c).sum()),
                             "flagged": sum(1 for r in issues if r["given"] == name)}
                      for c, name in enumerate(splits.classes)},
        "has_splits": bool(splits.val or splits.test), "images": rows,
    }


def write_clean_manifest(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``path,label[,split]`` rows of the images not flagged (the format ``classify train`` reads).

    Image paths are written relative to the manifest's folder when they share a drive; the
    split column is kept when the data had train / val / test splits.

    Example:
        >>> write_clean_manifest(find_label_issues("data/flowers"), "clean.csv")  # doctest: +SKIP
        PosixPath('clean.csv')
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    flagged = {issue["path"] for issue in result["issues"]}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    with_split = result["has_splits"]
    writer.writerow(["path", "label", "split"] if with_split else ["path", "label"])
    base = target.parent.resolve()
    for row in result["images"]:
        if row["path"] in flagged:
            continue
        image = Path(row["path"]).resolve()
        try:
            shown = os.path.relpath(image, base)
        except ValueError:  # another drive (Windows)
            shown = str(image)
        writer.writerow([shown, row["given"], row["split"]] if with_split else [shown, row["given"]])
    return atomic_write_text(target, buffer.getvalue())


def _fold_count(labels: np.ndarray, classes: list[str], folds: int, status: Callable[[str], None]) -> int:
    if folds < 2:
        raise DataError(f"--folds {folds}: cross-validation needs at least 2 folds")
    counts = Counter(labels.tolist())
    smallest = min(counts, key=lambda c: counts[c])
    if counts[smallest] < 2:
        raise DataError(f"class '{classes[smallest]}' has only 1 image; cross-validation needs at least 2 per "
                        "class (add images or remove the class)")
    if counts[smallest] < folds:
        status(f"note: class '{classes[smallest]}' has only {counts[smallest]} images; using "
               f"{counts[smallest]} folds instead of {folds}")
        return counts[smallest]
    return folds


def _out_of_sample_probabilities(samples: list[tuple[Path, int, str]], classes: list[str], folds: int, model: str,
                                 epochs: int, seed: int, status: Callable[[str], None],
                                 train_options: dict[str, Any]) -> np.ndarray:
    """``(N, C)`` calibrated probabilities, each row from the fold model that did not train on it."""
    from sklearn.model_selection import StratifiedKFold

    from sightkit.tasks.classify.api import Classifier

    labels = np.array([label for _, label, _ in samples])
    probs = np.zeros((len(samples), len(classes)), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with tempfile.TemporaryDirectory(prefix="sightkit-label-issues-") as work:
        for fold, (train_idx, held_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels), start=1):
            manifest = Path(work) / f"fold{fold}.csv"
            rows = [(samples[i][0], classes[labels[i]], "train") for i in train_idx]
            rows += [(samples[i][0], classes[labels[i]], "test") for i in held_idx]
            with open(manifest, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerows((p.resolve(), c, s) for p, c, s in rows)
            clf = Classifier.train(manifest, model, out=Path(work) / f"fold{fold}", epochs=epochs, seed=seed,
                                   progress=False, status=lambda _: None, **train_options)
            if clf.classes != classes:
                raise DataError(f"fold {fold}: the classifier learned classes {clf.classes}, expected {classes}")
            probs[held_idx] = clf.predict_proba([samples[i][0] for i in held_idx])
            accuracy = float((probs[held_idx].argmax(1) == labels[held_idx]).mean())
            status(f"fold {fold}/{folds}: trained on {len(train_idx)} images, held-out accuracy {accuracy:.3f}")
    return probs
