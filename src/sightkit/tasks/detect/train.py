"""Train a detector on a VOC / COCO / YOLO dataset, end to end, and save its bundle.

A run folder holds ``config.json`` (options, data, the image split), ``checkpoints/``
(``last.ckpt`` every epoch, ``best.ckpt`` by validation mAP@.5), ``logs/`` and the bundle
``model/`` (with ``dataset.json``: its training and validation images and their fingerprints,
which evaluation uses to keep training images out); an interrupted run continues with ``resume=True``.

Example:
    >>> result = train(Path("shapes"), make_detect_config(epochs=20))  # doctest: +SKIP
    >>> result.bundle  # doctest: +SKIP
    PosixPath('runs/detect-shapes-fcos_resnet18-20260101-120000/model')
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sightkit.core.bundle import save_bundle
from sightkit.core.fileio import atomic_write_text
from sightkit.engine.distributed import (check_distributed_options, global_batch_share, is_launch_rank_zero,
                                         on_rank_zero, rank_zero_status, run_folder, trainer_options)
from sightkit.errors import ConfigError
from sightkit.tasks.detect.config import DetectConfig, make_detect_config
from sightkit.tasks.detect.dataset import DetectionData, load_detection_data, split_samples

log = logging.getLogger(__name__)

TASK = "detect"
CONFIG_FILE = "config.json"
DEFAULT_SCORE_THRESHOLD = 0.3  # what predict keeps by default; evaluation uses every detection down to 0.05
DEFAULT_NMS_THRESHOLD = 0.5
_LISTED = 5  # data problems shown before "... and N more"


@dataclass
class DetectTrainResult:
    """What a training run produced: its folder, the bundle and the bundle's metadata."""

    run_dir: Path
    bundle: Path
    meta: dict[str, Any]


def default_run_dir(data: Path, model: str) -> Path:
    """``runs/detect-<data>-<model>-<YYYYmmdd-HHMMSS>``."""
    return Path("runs") / f"detect-{data.stem or 'data'}-{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def load_run_config(run_dir: Path, overrides: dict[str, Any]) -> tuple[DetectConfig, str | None]:
    """The saved config (and ``--weights``) of ``run_dir`` with ``overrides`` applied, to resume."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"--resume: {run_dir} has no {CONFIG_FILE}; start a new run without --resume")
    saved = json.loads(path.read_text())
    return make_detect_config(**{**saved["config"], **overrides}), saved.get("weights")


def report_data(data: DetectionData, status: Callable[[str], None]) -> None:
    """Status lines: the dataset, its first problems, images without annotations."""
    status(data.describe())
    for problem in data.problems[:_LISTED]:
        status(f"note: {problem}")
    if len(data.problems) > _LISTED:
        status(f"note: ... and {len(data.problems) - _LISTED} more annotation problems (--strict refuses them)")
    if data.unannotated:
        names = ", ".join(p.name for p in data.unannotated[:_LISTED])
        status(f"note: {len(data.unannotated)} images have no annotation file and are not used: {names}"
               + (" ..." if len(data.unannotated) > _LISTED else ""))


def train(data: Path, config: DetectConfig, run_dir: Path | None = None, *, weights: str | Path | None = None,
          resume: bool = False, progress: bool = True, command: str | None = None,
          status: Callable[[str], None] = log.info) -> DetectTrainResult:
    """Read and check the data, train with the engine's Trainer, save the best model as a ``detect`` bundle."""
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader

    from sightkit.core.threads import loader_workers
    from sightkit.engine.quiet import quiet_training
    from sightkit.engine.trainer import build_trainer, resolve_accelerator, stop_reason
    from sightkit.tasks.classify.splits import RECORD_FILE
    from sightkit.tasks.detect.eval_data import record_detection_data
    from sightkit.tasks.detect.model import build_detector, load_weights
    from sightkit.tasks.detect.module import DetectModule
    from sightkit.tasks.detect.transforms import DetectionDataset, collate

    resolve_accelerator(config.device)
    check_distributed_options(config.devices, config.num_nodes, config.strategy, config.batch_size,
                              run_dir_given=run_dir is not None)
    status = rank_zero_status(status)
    pl.seed_everything(config.seed, verbose=False)
    dataset = load_detection_data(data, strict=config.strict)
    report_data(dataset, status)
    train_samples, val_samples = split_samples(dataset.samples, config.val_fraction, config.seed)
    model = build_detector(config.model, len(dataset.classes), config.image_size)
    if weights is not None and not resume:
        counts = load_weights(model, weights)
        status(f"weights {weights}: {counts['loaded']} of {counts['total']} tensors loaded, "
               f"{counts['reinitialised']} re-initialised (other shape, e.g. another class count)")
    run_dir = run_dir or default_run_dir(data, config.model)
    status(f"training {config.model} on {len(train_samples)} images, validating on {len(val_samples)}; "
           f"run folder {run_dir}")
    monitor, mode = ("val_map_50", "max") if val_samples else ("train_loss", "min")
    start, cpu_start = time.perf_counter(), time.process_time()
    with run_folder(run_dir, resume=resume), quiet_training():
        if is_launch_rank_zero():
            atomic_write_text(run_dir / CONFIG_FILE, json.dumps(
                {"data": str(data), "weights": str(weights) if weights else None, "config": config.model_dump(),
                 "classes": dataset.classes, "val_images": [str(s.image) for s in val_samples]}, indent=2))
        module = DetectModule(model, config, len(dataset.classes))
        trainer = build_trainer(run_dir, max_epochs=config.epochs, monitor=monitor, mode=mode, device=config.device,
                                max_minutes=config.max_minutes, progress=progress, resuming=resume,
                                **trainer_options(config))
        # --batch-size is the global batch; under DDP Lightning gives each process its share of the images.
        batch = global_batch_share(config.batch_size, trainer.world_size)
        workers = loader_workers(None)
        train_loader = DataLoader(DetectionDataset(train_samples, config.image_size, train=True,
                                                   scale_range=config.scale_range, color=config.color_jitter),
                                  batch_size=batch, shuffle=True, collate_fn=collate, num_workers=workers,
                                  drop_last=len(train_samples) > config.batch_size, persistent_workers=workers > 0)
        val_loader = DataLoader(DetectionDataset(val_samples, config.image_size), batch_size=batch,
                                collate_fn=collate) if val_samples else None
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        trainer.fit(module, train_loader, val_loader, ckpt_path=str(ckpt) if resume and ckpt.is_file() else None)

        def finish() -> tuple[Path, dict[str, Any]]:  # rank 0 alone: best weights, figures, the bundle
            summary = _best(trainer, module, monitor)
            reason = "max_cpu_minutes" if module.cpu_limit_reached else stop_reason(trainer)
            summary.update(epochs_run=trainer.current_epoch, steps_run=trainer.global_step, stop_reason=reason,
                           minutes=round((time.perf_counter() - start) / 60, 2),
                           cpu_minutes=round((time.process_time() - cpu_start) / 60, 2))
            meta = _meta(module.model, config, dataset, len(train_samples), len(val_samples), summary, command,
                         weights)
            record = {RECORD_FILE: record_detection_data(dataset.root, train_samples, val_samples)}
            return save_bundle(run_dir / "model", module.model.state_dict(), meta, extras=record), meta

        bundle, meta = on_rank_zero(trainer, finish)
    status(f"saved {bundle}")
    return DetectTrainResult(run_dir, bundle, meta)


def _best(trainer: Any, module: Any, monitor: str) -> dict[str, Any]:
    """Load the best checkpoint (by ``monitor``) into ``module``; the figures to record."""
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback else ""
    summary: dict[str, Any] = {}
    if best and Path(best).is_file():  # our own checkpoint, still read with weights_only
        module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
        if callback.best_model_score is not None:
            summary[f"best_{monitor}"] = round(float(callback.best_model_score), 4)
    for key in ("val_map", "val_map_50", "train_loss_epoch"):
        value = trainer.callback_metrics.get(key)
        if value is not None:
            summary[f"last_{key}"] = round(float(value), 4)
    return summary


def _meta(model: nn.Module, config: DetectConfig, data: DetectionData, n_train: int, n_val: int,
          summary: dict[str, Any], command: str | None, weights: str | Path | None) -> dict[str, Any]:
    return {
        "task": TASK,
        "architecture": {"name": config.model, "num_classes": len(data.classes), "image_size": config.image_size},
        "classes": data.classes,
        "preprocessing": {"color": "rgb", "range": "0-1", "image_size": config.image_size,
                          "resize": "longer side to image_size, inside the model"},
        "thresholds": {"score": DEFAULT_SCORE_THRESHOLD, "nms": DEFAULT_NMS_THRESHOLD},
        "parameters": sum(p.numel() for p in model.parameters()),
        "metrics": {k: v for k, v in summary.items() if k.startswith(("best_", "last_val"))},
        "training": {"config": config.model_dump(), "data": str(data.root), "format": data.format,
                     "train_images": n_train, "val_images": n_val, "boxes": data.box_counts(),
                     "problems": len(data.problems), "weights": str(weights) if weights else None,
                     "command": command, **summary},
    }
