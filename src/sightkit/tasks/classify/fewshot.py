"""``--few-shot``: a prototype classifier on the embeddings of an ``--init`` model, with no training.

Each class's prototype is the mean of its support images' L2-normalised embeddings, normalised
again; an image goes to the class whose prototype is nearest (highest cosine). The result is a
normal classify bundle: the backbone of ``--init`` and a linear head whose rows are the prototypes
times ``COSINE_SCALE / m`` (``m``: the median embedding norm of the support images), bias 0. For
any image the head's arg-max is exactly the nearest prototype, since ``w_c . f = |f| s/m cos(f, p_c)``.

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
import torch.nn.functional as F
from torch.utils.data import DataLoader

from sightkit.core.bundle import save_bundle
from sightkit.data.dataset import ImageDataset
from sightkit.data.discover import DatasetSplits
from sightkit.data.shards import is_shard_source
from sightkit.data.transforms import build_eval_transform
from sightkit.errors import ConfigError, DataError, ModelError
from sightkit.tasks.classify.calibration import fit_temperature
from sightkit.tasks.classify.model import create_model, default_normalization, penultimate_features
from sightkit.tasks.classify.splits import RECORD_FILE, record_dataset
from sightkit.tasks.classify.transfer import classifier_layer, load_init, read_init

COSINE_SCALE = 10.0  # logits = cosine / 0.1: the usual temperature of cosine classifiers (before calibration)


def class_prototypes(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per class, the L2-normalised mean of its L2-normalised embeddings: ``(num_classes, D)``.

    Example:
        >>> class_prototypes(torch.eye(3), torch.tensor([0, 1, 1]), 2)
        tensor([[1.0000, 0.0000, 0.0000],
                [0.0000, 0.7071, 0.7071]])
    """
    unit = F.normalize(embeddings, dim=1)
    sums = torch.zeros(num_classes, unit.shape[1], dtype=unit.dtype).index_add_(0, labels, unit)
    return F.normalize(sums, dim=1)


def leave_one_out_cosines(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Cosine of each embedding to every prototype, its own class's prototype built without it.

    Rows of images alone in their class cannot be scored this way and are NaN.

    Example:
        >>> leave_one_out_cosines(torch.eye(2).repeat(2, 1), torch.tensor([0, 1, 0, 1]), 2)[0]
        tensor([1., 0.])
    """
    unit = F.normalize(embeddings, dim=1)
    sums = torch.zeros(num_classes, unit.shape[1], dtype=unit.dtype).index_add_(0, labels, unit)
    cosines = unit @ F.normalize(sums, dim=1).T
    own = F.normalize(sums[labels] - unit, dim=1)  # the own-class prototype without the image
    cosines[torch.arange(len(labels)), labels] = (unit * own).sum(1)
    alone = torch.bincount(labels, minlength=num_classes)[labels] < 2
    cosines[alone] = float("nan")
    return cosines


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
    features, labels = _features(model.eval(), support)
    counts = torch.bincount(labels, minlength=len(splits.classes))
    if (counts == 0).any():
        empty = [name for name, n in zip(splits.classes, counts.tolist()) if n == 0]
        raise DataError(f"DATA {data}: no readable support image of class {', '.join(empty)}")
    status(f"few-shot: {len(labels)} support images, {counts.min().item()}-{counts.max().item()} per class")

    prototypes = class_prototypes(features, labels, len(splits.classes))
    norm = float(features.norm(dim=1).median().clamp(min=1e-6))
    _set_head(model, prototypes * (COSINE_SCALE / norm))
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


@torch.no_grad()
def _features(model: torch.nn.Module, dataset: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate-layer features (not normalised) and labels of every image of ``dataset``."""
    rows, labels = [], []
    for images, targets in DataLoader(dataset, batch_size=128):
        rows.append(penultimate_features(model, images).float())
        labels.append(targets)
    return torch.cat(rows), torch.cat(labels)


def _set_head(model: torch.nn.Module, weight: torch.Tensor) -> None:
    layer = classifier_layer(model)
    if not isinstance(layer, torch.nn.Linear) or layer.weight.shape != weight.shape:
        raise ModelError(f"--few-shot: the classification layer of {type(model).__name__} is not a linear layer on "
                         "the embeddings; use a built-in or a timm model with a linear head")
    with torch.no_grad():
        layer.weight.copy_(weight)
        if layer.bias is not None:
            layer.bias.zero_()


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
