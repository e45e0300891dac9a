"""``--few-shot``: a prototype classifier on the embeddings of an ``--init`` model, with no training.

Each class's prototype is the mean of its support images' L2-normalised embeddings, normalised
again; an image goes to the class whose prototype is nearest (highest cosine). The result is a
normal classify bundle: the backbone of ``--init`` and a linear head holding the prototypes (see
:mod:`sightkit.tasks.classify.prototypes`), whose arg-max is exactly the nearest prototype.

Support images: the training split, and the validation split too when a test split holds the
report (no epoch to choose, so every labelled image that is not held out helps). The temperature
is fitted on leave-one-out logits of the support images (each scored against prototypes built
without it), so the reported probabilities are calibrated out of sample.

Example:
    >>> Classifier.train("data/5-per-class", init="runs/cifar/model", few_shot=True, test_fraction=0.5)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from sightkit.core.bundle import save_bundle
from sightkit.data.dataset import ImageDataset
from sightkit.data.discover import DatasetSplits
from sightkit.data.shards import is_shard_source
from sightkit.data.transforms import build_eval_transform
from sightkit.errors import ConfigError, DataError
from sightkit.tasks.classify.calibration import fit_temperature
from sightkit.tasks.classify.model import create_model, default_normalization
from sightkit.tasks.classify.prototypes import COSINE_SCALE, embed_samples, leave_one_out_cosines, set_prototype_head
from sightkit.tasks.classify.splits import RECORD_FILE, record_dataset
from sightkit.tasks.classify.transfer import load_init, read_init


def train_few_shot(data: Path | str, splits: DatasetSplits, config: Any, run_dir: Path,
                   status: Callable[[str], None]) -> Any:
    """Build, calibrate, save and evaluate the prototype classifier of ``splits``; a :class:`TrainResult`."""
    from sightkit.tasks.classify.evaluate import evaluate
    from sightkit.tasks.classify.eval_data import EvalData
    from sightkit.tasks.classify.predict import Predictor
    from sightkit.tasks.classify.train import TrainResult

    started, clock = datetime.now(timezone.utc), time.perf_counter()
    if is_shard_source(data):
        raise ConfigError("--few-shot reads a folder or manifest of labelled images, not shards")
    held_out = "test" if splits.test else "val"
    if not getattr(splits, held_out):
        raise ConfigError("--few-shot needs held-out images to report on: a test/ folder, --test-fraction or "
                          "--val-fraction above 0")
    if splits.test:  # every labelled image that is not held out is a support image
        splits = replace(splits, train=splits.train + splits.val, val=[])
    channels = 1 if splits.grayscale else 3
    mode = "L" if channels == 1 else "RGB"
    source = read_init(config.init)
    size = int(config.img_size or source.img_size or 32)
    mean, std = default_normalization(config.model, channels)
    model = create_model(config.model, len(splits.classes), channels)
    load_init(model, source, splits.classes, channels)
    status(f"init: backbone from {source.path}; the head will hold the class prototypes")
    support = ImageDataset(splits.train, mode, size, build_eval_transform(mean, std))
    for _, reason in support.skipped:
        status(f"skipped {reason}")
    features, labels = embed_samples(model.eval(), support)
    counts = torch.bincount(labels, minlength=len(splits.classes))
    if (counts == 0).any():
        empty = [name for name, n in zip(splits.classes, counts.tolist()) if n == 0]
        raise DataError(f"DATA {data}: no readable support image of class {', '.join(empty)}")
    status(f"few-shot: {len(labels)} support images, {counts.min().item()}-{counts.max().item()} per class")

    norm = set_prototype_head(model, features, labels, len(splits.classes))
    temperature, loo_accuracy = _calibrate(features, labels, len(splits.classes), status)

    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "task": "classify",
        "architecture": {"name": config.model, "in_chans": channels, "num_classes": len(splits.classes)},
        "classes": splits.classes,
        "preprocessing": {"size": size, "mode": mode, "channels": channels, "mean": mean, "std": std,
                          "resize": "shorter side to size (bilinear, antialiased), centre crop"},
        "training": {"config": config.model_dump(), "data": str(Path(data).resolve()), "epochs_run": 0,
                     "stopped": "few-shot prototypes (no training)", "splits": splits.summary(),
                     "few_shot": {"init": str(source.path), "support_per_class": dict(zip(splits.classes,
                                                                                          counts.tolist())),
                                  "cosine_scale": COSINE_SCALE, "median_embedding_norm": norm,
                                  "leave_one_out_accuracy": loo_accuracy},
                     "started": started.isoformat(timespec="seconds"),
                     "duration_s": round(time.perf_counter() - clock, 1), "history": []},
        "calibration": {"temperature": temperature, "fitted_on": "support images, leave-one-out",
                        "method": "temperature scaling"},
    }
    pairs = [(s.path, splits.classes[s.label]) for s in getattr(splits, held_out)]
    report = evaluate(Predictor(model, meta), EvalData(pairs, held_out, str(data)), run_dir / "report")
    meta["metrics"] = {"split": held_out, "n": report["n"],
                       **{k: report[k] for k in ("accuracy", "macro_f1", "ece") if k in report}}
    bundle_path = save_bundle(run_dir / "model", model.state_dict(), meta,
                              extras={RECORD_FILE: record_dataset(splits)})
    return TrainResult(run_dir, bundle_path, meta, report)


def _calibrate(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
               status: Callable[[str], None]) -> tuple[float, float | None]:
    """Temperature and accuracy of the leave-one-out logits; ``(1.0, None)`` when no class has 2 images."""
    cosines = leave_one_out_cosines(features, labels, num_classes)
    scored = ~cosines.isnan().any(1)
    if not scored.any():
        status("few-shot: one image per class, so no leave-one-out calibration; temperature 1")
        return 1.0, None
    logits = cosines[scored] * COSINE_SCALE
    accuracy = float((logits.argmax(1) == labels[scored]).float().mean())
    temperature = fit_temperature(logits, labels[scored])
    status(f"few-shot: leave-one-out accuracy on the support images {accuracy:.3f}, temperature {temperature:.3f}")
    return temperature, accuracy
