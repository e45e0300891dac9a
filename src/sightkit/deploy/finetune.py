"""Train a given model (pruned, or a distillation student) with sightkit's engine and bundle it.

The data split is the one the source bundle was trained with (same ``val_fraction``,
``test_fraction`` and ``seed`` from its ``training.config``), so fine-tuning on the same
``DATA`` never sees the images the source was evaluated on. The result is a normal bundle
(temperature fitted on the validation split, report on the held-out split) in
``RUN/model``, with checkpoints and logs under ``RUN``.

Example:
    >>> result = finetune(pruned_model, "data/flowers", meta, "runs/prune-x", epochs=5)  # doctest: +SKIP
    >>> result.report["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from sightkit.core.bundle import save_bundle
from sightkit.core.folders import removed_on_failure
from sightkit.data.dataset import ImageDataset
from sightkit.data.discover import discover
from sightkit.data.transforms import build_eval_transform, build_train_transform
from sightkit.errors import DataError
from sightkit.tasks.classify.config import TrainConfig, make_config
from sightkit.tasks.classify.train import TrainResult

log = logging.getLogger(__name__)

ModuleFactory = Callable[[nn.Module, TrainConfig], Any]  # (model, config) -> LightningModule


@dataclass
class FinetuneResult(TrainResult):
    """A training run's result plus the held-out ``(path, class)`` pairs it was evaluated on."""

    held_out: list[tuple[Path, str]]


def finetune_config(meta: dict[str, Any], **overrides: Any) -> TrainConfig:
    """The source bundle's training config (where it has one) with ``overrides`` applied."""
    saved = meta.get("training", {}).get("config", {})
    base = {k: v for k, v in saved.items() if k in TrainConfig.model_fields}
    base.update(pretrained=False, weights=None, patience=None)  # start from the given model, run all epochs
    return make_config(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


def check_data(data: str | Path) -> None:
    """Raise :class:`DataError` when ``--data`` does not exist (before any model is loaded or pruned)."""
    if not Path(data).exists():
        raise DataError(f"--data {data}: no such folder or file; give the data the model was trained on")


def finetune(model: nn.Module, data: str | Path, meta: dict[str, Any], run_dir: str | Path, config: TrainConfig, *,
             module_factory: ModuleFactory | None = None, progress: bool = True,
             status: Callable[[str], None] = log.info) -> FinetuneResult:
    """Train ``model`` on ``data`` with ``meta``'s preprocessing; save ``RUN/model`` and ``RUN/report``.

    A run folder that this call creates is removed again if training fails.
    """
    from sightkit.engine.trainer import build_trainer
    from sightkit.tasks.classify.calibration import fit_temperature
    from sightkit.tasks.classify.evaluate import evaluate
    from sightkit.tasks.classify.lit_module import ClassificationModule
    from sightkit.tasks.classify.predict import Predictor

    run_dir = Path(run_dir)
    splits = discover(data, config.val_fraction, config.test_fraction, config.seed)
    if splits.classes != list(meta["classes"]):
        raise DataError(f"DATA {data}: classes {', '.join(splits.classes)} differ from the model's "
                        f"({', '.join(meta['classes'])}); use the data the model was trained on")
    status(f"data: {splits.summary()}")
    prep = meta["preprocessing"]
    mode, size, mean, std = prep["mode"], int(prep["size"]), prep["mean"], prep["std"]
    train_ds = ImageDataset(splits.train, mode, size,
                            build_train_transform(config.augment, mean, std, size=size, hflip=config.hflip))
    val_ds = ImageDataset(splits.val or splits.train, mode, size, build_eval_transform(mean, std))
    if len(train_ds) == 0:
        raise DataError(f"DATA {data}: no training image could be decoded")
    model.train()  # Lightning keeps the modes it is given; a model from a Predictor is in eval mode
    module = (module_factory or (lambda m, c: ClassificationModule(m, len(splits.classes), c)))(model, config)
    with removed_on_failure(run_dir):  # a failed run leaves no folder behind
        trainer = build_trainer(run_dir, max_epochs=config.epochs, monitor="val_acc", device=config.device,
                                max_minutes=config.max_minutes, progress=progress)
        trainer.fit(module, *_loaders(train_ds, val_ds, config))
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best and Path(best).is_file():
            module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])

        new_meta = {**meta, "calibration": {"temperature": 1.0},
                    "training": {"config": config.model_dump(), "data": str(data), "epochs_run": trainer.current_epoch,
                                 "splits": splits.summary()}}
        predictor = Predictor(module.model.cpu(), new_meta)
        val_logits = torch.cat([lg for _, lg, _ in predictor.iter_logits([s.path for s in val_ds.samples])
                                if lg.numel()])
        temperature = fit_temperature(val_logits, torch.tensor([s.label for s in val_ds.samples]))
        new_meta["calibration"] = {"temperature": temperature, "fitted_on": "val", "method": "temperature scaling"}
        predictor.temperature, predictor.meta = temperature, new_meta
        split_name = "test" if splits.test else "val"
        held_out = [(s.path, splits.classes[s.label]) for s in (splits.test or splits.val)]
        report = evaluate(predictor, held_out, run_dir / "report")
        report["split"] = split_name
        new_meta["metrics"] = {"split": split_name, **{k: report[k] for k in ("accuracy", "macro_f1", "ece")}}
        bundle_path = save_bundle(run_dir / "model", module.model.state_dict(), new_meta)
        return FinetuneResult(run_dir, bundle_path, new_meta, report, held_out)


def _loaders(train_ds: ImageDataset, val_ds: ImageDataset, config: TrainConfig) -> tuple[DataLoader, DataLoader]:
    workers = config.workers if config.workers is not None else (
        0 if train_ds.cached is not None else min(4, os.cpu_count() or 1))
    common = {"num_workers": workers, "persistent_workers": workers > 0}
    return (DataLoader(train_ds, batch_size=config.batch_size, shuffle=True,
                       drop_last=len(train_ds) > config.batch_size, **common),
            DataLoader(val_ds, batch_size=max(config.batch_size, 128), **common))
