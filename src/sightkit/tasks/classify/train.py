"""Train a classifier from a folder or manifest of images, end to end.

A run folder holds ``config.json`` and ``splits.json`` (the exact files of each split),
``checkpoints/{best,last}.ckpt``, ``logs/`` (CSV + TensorBoard), the ``model`` bundle
(best weights + fitted temperature) and the evaluation ``report/``.

Example:
    >>> result = train(Path("data/flowers"), TrainConfig(model="resnet18", epochs=10))  # doctest: +SKIP
    >>> result.bundle_path, result.report["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from sightkit.core.bundle import save_bundle
from sightkit.core.fileio import atomic_write_text
from sightkit.core.folders import removed_on_failure
from sightkit.core.dicom import window_setting
from sightkit.core.images import peek
from sightkit.data.dataset import ImageDataset
from sightkit.data.discover import DatasetSplits, discover
from sightkit.data.shard_dataset import DecodeBytes, EpochLoader, ShardDataset, held_out_splits
from sightkit.data.shards import ShardManifest, is_shard_source, read_manifest
from sightkit.data.transforms import build_eval_transform, build_train_transform
from sightkit.engine.distributed import (check_distributed_options, global_batch_share, is_launch_rank_zero,
                                         on_rank_zero)
from sightkit.engine.ema import ema_callback
from sightkit.errors import ConfigError, DataError
from sightkit.tasks.classify.budget import BudgetPlan, plan_budget, unplanned_reason, wants_plan
from sightkit.tasks.classify.calibration import fit_temperature
from sightkit.tasks.classify.config import TrainConfig, make_config
from sightkit.tasks.classify.medical import operating_point, positive_index
from sightkit.tasks.classify.model import (check_model_options, create_model, default_normalization, is_builtin,
                                           native_input_size)
from sightkit.tasks.classify.semi_data import UnlabeledData, load_unlabeled
from sightkit.tasks.classify.splits import RECORD_FILE, record_dataset
from sightkit.tasks.classify.transfer import check_init, prepare_start

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
BUILTIN_MIN_SIZE, BUILTIN_MAX_SIZE = 16, 64  # the default input side of the built-in CNNs
LAST_CHECKPOINT = "checkpoints/last.ckpt"


@dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path
    bundle_path: Path
    meta: dict[str, Any]
    report: dict[str, Any]


def default_run_dir(data: Path, model: str) -> Path:
    """``runs/classify-<model>-<data>-<YYYYmmdd-HHMMSS>``: names that explain themselves."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"classify-{model}-{data.stem or 'data'}-{stamp}"


def load_run_config(run_dir: Path, overrides: dict[str, Any]) -> TrainConfig:
    """The saved config of ``run_dir`` with ``overrides`` applied (to resume, e.g. with more epochs)."""
    path = run_dir / CONFIG_FILE
    if not (run_dir / LAST_CHECKPOINT).is_file() or not path.is_file():
        raise ConfigError(f"--resume: {run_dir} has no {LAST_CHECKPOINT}; start a new run without --resume")
    saved = json.loads(path.read_text())["config"]
    return make_config(**{**saved, **overrides})


def train(data: Path | str, config: TrainConfig, run_dir: Path | None = None, *, resume: bool = False,
          progress: bool = True, status: Callable[[str], None] = log.info) -> TrainResult:
    """Train, calibrate, save the bundle and evaluate on the held-out split.

    ``data`` is a dataset folder or CSV manifest, or shards of ``sightkit data shard``: their
    folder, or its URL (a ``str``: ``s3://``, ``gs://``, ``https://`` through fsspec).

    Options are checked before ``data`` is read. A run that fails leaves no run folder behind
    (a ``resume``d one is kept, and so is an interrupted one, to be resumed).
    """
    from sightkit.engine.quiet import quiet_training
    from sightkit.engine.trainer import resolve_accelerator

    check_model_options(config.model, config.pretrained, config.weights)
    window_setting()  # a bad SIGHTKIT_DICOM_WINDOW fails before any data is read
    config = check_init(config)  # --init: its architecture and input size
    resolve_accelerator(config.device)
    check_distributed_options(config.devices, config.num_nodes, config.strategy, config.batch_size,
                              run_dir_given=run_dir is not None)
    if not is_launch_rank_zero():  # the other processes of a DDP run: rank 0 speaks for all
        status = _silent
    run_dir = run_dir or default_run_dir(Path(str(data)), config.model)
    shards = _shard_manifest(data, config)
    splits = discover(data, config.val_fraction, config.test_fraction, config.seed) if shards is None else None
    found = shards or splits
    status(f"data: {found.summary()} ({'grayscale' if found.grayscale else 'colour'})")
    if splits is not None and not config.few_shot:  # few-shot says it in its own words
        check_held_out(splits, data, config)
    for path, reason in splits.skipped if splits is not None else []:
        status(f"skipped {reason}")  # the reason names the file
    with nullcontext(run_dir) if resume else removed_on_failure(run_dir), quiet_training():
        if shards is not None:  # the training split streams from the shards; val/test are read as files
            splits = held_out_splits(shards, run_dir / "heldout")
        if config.synthetic:
            from sightkit.tasks.generate.synthetic import add_synthetic

            splits = add_synthetic(splits, config.generator, config.synthetic, run_dir / "synthetic", config.seed,
                                   status)
        if config.few_shot:
            from sightkit.tasks.classify.fewshot import train_few_shot

            return train_few_shot(data, splits, config, run_dir, status)
        return _train(data, splits, config, run_dir, resume=resume, progress=progress, status=status, shards=shards)


def check_held_out(splits: DatasetSplits, data: Path | str, config: TrainConfig) -> None:
    """Refuse, before training, data that leaves no image to validate or test on (e.g. one image per class):
    the best epoch, the calibration and the report would all come from the training images.

    Example:
        >>> check_held_out(discover("one-per-class"), "one-per-class", make_config())  # doctest: +SKIP
        Traceback (most recent call last):
        sightkit.errors.DataError: DATA one-per-class: no image is left for validation or testing ...
    """
    if splits.val or splits.test:
        return
    counts = [sum(1 for s in splits.train if s.label == c) for c in range(len(splits.classes))]
    raise DataError(f"DATA {data}: no image is left for validation or testing (the smallest class has "
                    f"{min(counts)} image(s); --val-fraction {config.val_fraction:g} of it rounds to none), so the "
                    "test split is empty; add images (at least 2 per class, 10+ for useful figures), give val/ "
                    "and test/ folders, or raise --val-fraction")


def _shard_manifest(data: Path | str, config: TrainConfig) -> ShardManifest | None:
    """The manifest when ``data`` is a shard folder or URL (``sightkit data shard``), else None."""
    if not is_shard_source(data):
        return None
    if config.synthetic:
        raise ConfigError("--synthetic adds files to a folder dataset; it cannot be used with shards")
    if config.unlabeled:
        raise ConfigError("--unlabeled trains with folder or manifest data; it cannot be used with shards")
    manifest = read_manifest(data)
    if not manifest.images("val"):
        raise DataError(f"{data}: the shards have no val split (needed to pick the best epoch and calibrate); "
                        "write them with 'sightkit data shard --val-fraction 0.2'")
    return manifest


def _train(data: Path | str, splits: DatasetSplits, config: TrainConfig, run_dir: Path, *, resume: bool,
           progress: bool, status: Callable[[str], None], shards: ShardManifest | None = None) -> TrainResult:
    import lightning.pytorch as pl

    from sightkit.engine.trainer import build_trainer
    from sightkit.tasks.classify.fixmatch import FixMatchModule
    from sightkit.tasks.classify.lit_module import ClassificationModule
    from sightkit.tasks.classify.semi_data import with_unlabeled

    started, clock = datetime.now(timezone.utc), time.perf_counter()
    if config.positive_class is not None:
        positive_index(splits.classes, config.positive_class)  # a wrong name fails before training
    channels = 1 if splits.grayscale else 3
    mode = "L" if channels == 1 else "RGB"
    size = config.img_size or _default_img_size(splits, config.model, shards.median_side if shards else None)
    plan = None
    if wants_plan(config) and not resume:
        unplanned = unplanned_reason(config, shards is not None)
        if unplanned:
            status(f"budget: {config.epochs} epochs, which --max-minutes may cut short ({unplanned})")
        else:
            plan = plan_budget(splits, config, size, channels)
            config = config.model_copy(update=plan.updates)
            for reason in plan.reasons:
                status(f"budget: {reason}")
    mean, std = default_normalization(config.model, channels)
    pl.seed_everything(config.seed, verbose=False)
    model = create_model(config.model, len(splits.classes), channels, pretrained=config.pretrained,
                         weights=config.weights)
    prepare_start(model, config, splits, channels, status)  # --init, --freeze-backbone

    train_tf = build_train_transform(config.augment, mean, std, size=size, hflip=config.hflip)
    train_ds = (ShardDataset(shards, "train", DecodeBytes(mode, size, train_tf), seed=config.seed) if shards
                else ImageDataset(splits.train, mode, size, train_tf))
    val_ds = ImageDataset(splits.val or splits.train, mode, size, build_eval_transform(mean, std))
    for path, reason in train_ds.skipped + val_ds.skipped:
        status(f"skipped {reason}")  # the reason names the file
    if len(train_ds) == 0:
        raise DataError(f"DATA {data}: no training image could be decoded")
    unlabeled = _unlabeled(splits, config, mode, size, mean, std, status) if config.unlabeled else None

    ckpt = run_dir / LAST_CHECKPOINT if resume else None
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_launch_rank_zero():
        atomic_write_text(run_dir / CONFIG_FILE, json.dumps(
            {"data": str(data), "config": config.model_dump(), "img_size": size, "channels": channels,
             "classes": splits.classes}, indent=2))
        atomic_write_text(run_dir / "splits.json", json.dumps(
            {name: [str(s.path) for s in getattr(splits, name)] for name in ("train", "val", "test")}))

    module_type = ClassificationModule if unlabeled is None else FixMatchModule
    module = module_type(model, len(splits.classes), config, class_weights(train_ds, splits, config, status))
    total_steps = config.epochs * math.ceil(len(train_ds) / config.batch_size)  # --batch-size is the global batch
    trainer = build_trainer(run_dir, max_epochs=config.epochs, monitor=monitored_metric(config), device=config.device,
                            patience=config.patience, max_minutes=config.max_minutes, progress=progress,
                            resuming=resume, devices=config.devices, num_nodes=config.num_nodes,
                            strategy=config.strategy, sync_batchnorm=config.sync_batchnorm,
                            extra_callbacks=[ema_callback(total_steps, config.ema_decay)] if config.ema else None)
    train_loader, val_loader = _loaders(train_ds, val_ds, config, trainer.world_size)
    if unlabeled is not None:
        train_loader = with_unlabeled(train_loader, unlabeled, config.unlabeled_ratio, config.workers)
    trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt)
    return on_rank_zero(trainer, lambda: _finish(trainer, module, data, splits, config, run_dir, val_loader, size,
                                                 status, started, clock, unlabeled, plan))


def _finish(trainer: Any, module: Any, data: Path | str, splits: DatasetSplits, config: TrainConfig, run_dir: Path,
            val_loader: DataLoader, size: int, status: Callable[[str], None], started: datetime,
            clock: float, unlabeled: UnlabeledData | None = None, plan: BudgetPlan | None = None) -> TrainResult:
    """After ``fit`` (on rank 0 alone): best weights, calibration, held-out report and the bundle."""
    from sightkit.engine.history import HISTORY_KEYS, read_history
    from sightkit.engine.trainer import stop_reason
    from sightkit.tasks.classify.eval_data import EvalData
    from sightkit.tasks.classify.evaluate import evaluate
    from sightkit.tasks.classify.fixmatch import SEMI_HISTORY_KEYS
    from sightkit.tasks.classify.predict import Predictor

    channels = 1 if splits.grayscale else 3
    mode = "L" if channels == 1 else "RGB"
    mean, std = default_normalization(config.model, channels)
    stopped = stop_reason(trainer)
    _say_why_it_stopped(stopped, trainer.current_epoch, config, status)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best and Path(best).is_file():
        _load_module_weights(module, Path(best))

    meta = {
        "task": "classify",
        "architecture": {"name": config.model, "in_chans": channels, "num_classes": len(splits.classes)},
        "classes": splits.classes,
        "preprocessing": {"size": size, "mode": mode, "channels": channels, "mean": mean, "std": std,
                          "resize": "shorter side to size (bilinear, antialiased), centre crop", **window_setting()},
        "training": {"config": config.model_dump(), "data": _data_name(data), "epochs_run": trainer.current_epoch,
                     "stopped": stopped, "splits": splits.summary(),
                     f"best_{monitored_metric(config)}": _best_score(trainer),
                     "started": started.isoformat(timespec="seconds"),
                     "duration_s": round(time.perf_counter() - clock, 1),
                     "history": read_history(run_dir / "logs", HISTORY_KEYS + SEMI_HISTORY_KEYS)},
    }
    if unlabeled is not None:
        meta["training"]["unlabeled"] = unlabeled.summary()
    if plan is not None:
        meta["training"]["plan"] = plan.to_dict()
    val_logits, val_labels = _logits_and_labels(module.model.cpu().eval(), val_loader)
    temperature = fit_temperature(val_logits, val_labels)
    meta["calibration"] = {"temperature": temperature, "fitted_on": "val", "method": "temperature scaling"}
    if config.target_sensitivity is not None:
        meta["decision"] = operating_point(torch.softmax(val_logits / temperature, 1).numpy(), val_labels.numpy(),
                                           splits.classes, config.target_sensitivity, config.positive_class,
                                           "val" if splits.val else "train")
        status("operating threshold: {positive_class} when its probability >= {threshold:.4g} (val sensitivity "
               "{sensitivity:.3f}, specificity {specificity:.3f})".format(**meta["decision"]))
    predictor = Predictor(module.model, meta)

    split_name = "test" if splits.test else "val"
    held_out = EvalData([(s.path, splits.classes[s.label]) for s in getattr(splits, split_name)], split_name,
                        _data_name(data))
    report = evaluate(predictor, held_out, run_dir / "report")
    meta["metrics"] = {"split": split_name, "n": report["n"],
                       **{k: report[k] for k in ("accuracy", "macro_f1", "ece") if k in report}}
    bundle_path = save_bundle(run_dir / "model", module.model.state_dict(), meta,
                              extras={RECORD_FILE: record_dataset(splits)})
    return TrainResult(run_dir, bundle_path, meta, report)


def monitored_metric(config: TrainConfig) -> str:
    """What picks the best epoch and early stopping: balanced validation accuracy (mean recall) with
    ``--balance``, whose loss aims at it; plain validation accuracy otherwise.

    Example:
        >>> monitored_metric(make_config(balance=True))
        'val_balanced_acc'
    """
    return "val_balanced_acc" if config.balance else "val_acc"


def class_weights(train_ds: ImageDataset, splits: DatasetSplits, config: TrainConfig,
                  status: Callable[[str], None]) -> torch.Tensor | None:
    """With ``config.balance``: loss weights ``n / (classes * n_c)`` (mean 1 over the images), else None.

    Example:
        >>> class_weights(train_ds, splits, make_config(balance=True), print)  # doctest: +SKIP
        class-balanced loss weights: cat 0.62, dog 2.50
        tensor([0.6250, 2.5000])
    """
    if not config.balance:
        return None
    counts = torch.bincount(train_ds.labels, minlength=len(splits.classes)).float()
    weights = counts.sum() / (len(counts) * counts.clamp(min=1))
    shown = ", ".join(f"{name} {weight:.2f}" for name, weight in zip(splits.classes, weights.tolist()))
    status(f"class-balanced loss weights: {shown}")
    return weights


def _say_why_it_stopped(stopped: str, epochs_run: int, config: TrainConfig, status: Callable[[str], None]) -> None:
    if stopped == "max_minutes":
        status(f"training stopped by --max-minutes {config.max_minutes:g} after {epochs_run} of {config.epochs} "
               "epochs; the best checkpoint so far is kept")
    elif stopped == "early_stopping":
        status(f"early stopping: no {monitored_metric(config)} gain for {config.patience} epochs; stopped after "
               f"{epochs_run} of {config.epochs} epochs")


def _loaders(train_ds: ImageDataset | ShardDataset, val_ds: ImageDataset, config: TrainConfig,
             world_size: int = 1) -> tuple[DataLoader, DataLoader]:
    """Loaders of one process: ``--batch-size`` is the global batch, shared by the ``world_size`` processes.

    Under DDP, Lightning gives each process its own part of a folder dataset (a ``DistributedSampler``);
    a :class:`ShardDataset` splits its shards' stream over the processes itself.
    """
    workers = config.workers
    if workers is None:
        workers = 0 if getattr(train_ds, "cached", None) is not None else min(4, os.cpu_count() or 1)
    common = {"num_workers": workers, "persistent_workers": workers > 0, "pin_memory": torch.cuda.is_available()}
    batch_size = global_batch_share(config.batch_size, world_size)
    val_loader = DataLoader(val_ds, batch_size=max(batch_size, 128), **common)
    if isinstance(train_ds, ShardDataset):
        train_ds.batch_size = batch_size
        # not persistent: each epoch's workers get the dataset with that epoch's shard order
        return EpochLoader(train_ds, batch_size=batch_size, num_workers=workers, pin_memory=common["pin_memory"]), \
            val_loader
    drop_last = len(train_ds) > config.batch_size
    return DataLoader(train_ds, batch_size=batch_size, shuffle=True, drop_last=drop_last, **common), val_loader


def _unlabeled(splits: DatasetSplits, config: TrainConfig, mode: str, size: int, mean: list[float], std: list[float],
               status: Callable[[str], None]) -> UnlabeledData:
    """The ``--unlabeled`` images of FixMatch, loaded with the labelled images' preprocessing; says how many."""
    from sightkit.tasks.classify.fixmatch import smoothing_note

    unlabeled = load_unlabeled(config.unlabeled, splits, mode, size, mean, std, hflip=config.hflip)
    for path, reason in unlabeled.skipped:
        status(f"skipped {reason}")  # the reason names the file
    status(f"unlabelled: {len(unlabeled.dataset)} images from {config.unlabeled} (FixMatch: "
           f"{config.unlabeled_ratio} per labelled image, threshold {config.unlabeled_conf:g})")
    note = smoothing_note(config.label_smoothing, len(splits.classes), config.unlabeled_conf)
    if note:
        status(f"note: {note}; --label-smoothing 0 suits FixMatch")
    return unlabeled


def _data_name(data: Path | str) -> str:
    """The training data as recorded: an absolute path, or the URL of shards."""
    return str(Path(data).resolve()) if isinstance(data, Path) else data


def _silent(message: str) -> None:
    """The status of the processes other than rank 0: they print nothing."""


@torch.no_grad()  # not inference_mode: fit_temperature differentiates through a copy of these
def _logits_and_labels(model: torch.nn.Module, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    logits, labels = zip(*((model(images), targets) for images, targets in loader))
    return torch.cat(logits), torch.cat(labels)


def _default_img_size(splits: DatasetSplits, model: str, median: int | None = None) -> int:
    """Median shorter side of (up to 200) training images (or ``median``), clamped to what the model suits.

    The built-in CNNs take 16-64 px: smaller images are enlarged, as their three 2x2 poolings leave
    an 8 px input one pixel (digits, 8 px scans, in 1 minute: tuning accuracy 0.9965 at 16 px
    against 0.986-0.993 at 8 px; benchmarks/results/classify_budget_digits_size.json).
    """
    if median is None:
        sample = splits.train[:: max(1, len(splits.train) // 200)]
        median = int(statistics.median([min(peek(s.path)[:2]) for s in sample]))
    if is_builtin(model):
        return max(BUILTIN_MIN_SIZE, min(BUILTIN_MAX_SIZE, median))
    return max(32, min(native_input_size(model) or 224, median))


def _load_module_weights(module: torch.nn.Module, checkpoint: Path) -> None:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)


def _best_score(trainer: Any) -> float | None:
    score = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    return float(score) if score is not None else None
