"""Train a synthesis GAN (DCGAN or class-conditional) from a folder of images or the built-in digits.

A run folder holds ``config.json``, ``checkpoints/{last,best}.ckpt`` (written every epoch, so a
killed run continues with ``resume``), ``logs/``, ``samples/epoch_NNN.png`` (a grid of EMA
samples per epoch: one row per class for a conditional model) and the ``model`` bundle (the EMA
generator). After every epoch the diversity of the samples is compared with the real images';
when it falls below ``collapse_ratio`` a warning names the epoch (mode collapse), and another
one says so when the final model is still below.

Example:
    >>> result = train("digits", make_config(epochs=40))  # doctest: +SKIP
    >>> result.bundle  # doctest: +SKIP
    PosixPath('runs/generate-cgan-32px-digits-20250101-120000/model')
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from sightkit.core.bundle import save_bundle
from sightkit.core.fileio import atomic_write_text
from sightkit.engine.distributed import (check_distributed_options, global_batch_share, is_launch_rank_zero,
                                         on_rank_zero, rank_zero_status, run_folder, trainer_options)
from sightkit.errors import ConfigError, DataError
from sightkit.tasks.generate.config import TrainConfig, make_config
from sightkit.tasks.generate.data import RealImages, read_real_images
from sightkit.tasks.generate.metrics import mean_pairwise_distance
from sightkit.tasks.generate.model import create_discriminator, create_generator

log = logging.getLogger(__name__)

TASK = "generate"
CONFIG_FILE = "config.json"
LAST_CHECKPOINT = "checkpoints/last.ckpt"


@dataclass
class TrainResult:
    """What a training run produced: the bundle of the EMA generator and its metadata."""

    run_dir: Path
    bundle: Path
    meta: dict[str, Any]
    collapse_warnings: list[str] = field(default_factory=list)


def default_run_dir(data: str | Path, config: TrainConfig) -> Path:
    """``runs/generate-<arch>-<size>px-<data>-<YYYYmmdd-HHMMSS>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"generate-{config.arch}-{config.size}px-{Path(str(data)).stem or 'data'}-{stamp}"


def load_run_config(run_dir: Path, overrides: dict[str, Any]) -> TrainConfig:
    """The saved config of ``run_dir`` with ``overrides`` applied (to resume, e.g. with more epochs)."""
    path = run_dir / CONFIG_FILE
    if not (run_dir / LAST_CHECKPOINT).is_file() or not path.is_file():
        raise ConfigError(f"--resume: {run_dir} has no {LAST_CHECKPOINT}; start a new run without --resume")
    saved = json.loads(path.read_text())["config"]
    return make_config(**{**saved, **overrides})


class CollapseWatch(pl.Callback):
    """After each epoch: log ``diversity`` (samples vs real); warn when it falls below ``ratio``.

    One warning each time the diversity falls below the line (not one per epoch below it);
    :func:`train` repeats it at the end when the final samples are still below.
    """

    def __init__(self, ratio: float, warn: Callable[[str], None]) -> None:
        self.ratio, self.warn = ratio, warn
        self.warnings: list[str] = []
        self.below = False

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = pl_module.diversity()
        # Under DDP the EMA's batch-norm statistics differ by each process's last batch: average the value.
        pl_module.log("diversity", value, prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        if value < self.ratio and not self.below:
            self.report(f"epoch {trainer.current_epoch + 1}", value)
        self.below = value < self.ratio

    def report(self, when: str, value: float) -> None:
        """Warn that the samples of ``when`` are only ``value`` as diverse as the real images."""
        message = (f"warning: {when}: samples are {value:.0%} as diverse as the real images (mean pairwise "
                   f"distance within a class; below {self.ratio:.0%}): the generator may be collapsing to a few "
                   "outputs; look at the sample grids, train longer, or try --mode-seeking 0.1")
        self.warnings.append(message)
        self.warn(message)


def train(data: str | Path, config: TrainConfig, run_dir: Path | None = None, *, resume: bool = False,
          progress: bool = True, command: str | None = None,
          status: Callable[[str], None] = log.info) -> TrainResult:
    """Train, then save the EMA generator as ``run_dir/model``; options are checked before data is read."""
    from sightkit.engine.gan import build_gan_trainer
    from sightkit.engine.quiet import quiet_training
    from sightkit.engine.trainer import resolve_accelerator
    from sightkit.tasks.generate.gan_module import SynthesisModule

    resolve_accelerator(config.device)
    check_distributed_options(config.devices, config.num_nodes, config.strategy, config.batch_size,
                              run_dir_given=run_dir is not None)
    status = rank_zero_status(status)
    real = read_real_images(data, config.size)
    for path, reason in real.skipped:
        status(f"skipped {reason}")  # the reason names the file
    _check_classes(real, config)
    status(f"data: {len(real)} images, {len(real.classes)} classes, {real.mode} {config.size} px, from {real.source}")
    pl.seed_everything(config.seed, verbose=False)
    channels = 1 if real.mode == "L" else 3
    generator = create_generator(config.arch, config.size, channels, len(real.classes), config.z_dim, config.width)
    discriminator = create_discriminator(config.arch, config.size, channels, len(real.classes), config.disc_width)
    run_dir = run_dir or default_run_dir(data, config)
    with run_folder(run_dir, resume=resume), quiet_training():
        if is_launch_rank_zero():
            atomic_write_text(run_dir / CONFIG_FILE, json.dumps({"data": str(data), "config": config.model_dump()},
                                                                indent=2))
        order = torch.randperm(len(real), generator=torch.Generator().manual_seed(config.seed))
        module = SynthesisModule(generator, discriminator, config,
                                 real_batch=(real.as_float()[order], real.labels[order]))
        trainer = build_gan_trainer(run_dir, max_epochs=config.epochs, monitor="diversity", mode="max",
                                    device=config.device, max_minutes=config.max_minutes, progress=progress,
                                    resuming=resume, **trainer_options(config))
        watch = CollapseWatch(config.collapse_ratio, status)
        trainer.callbacks.append(watch)
        start = time.perf_counter()
        ckpt = run_dir / LAST_CHECKPOINT if resume else None
        trainer.fit(module, _loader(real, config, trainer.world_size), ckpt_path=ckpt)
        return on_rank_zero(trainer, lambda: _finish(trainer, module, watch, real, config, data, run_dir, command,
                                                     channels, start, status))


def _finish(trainer: pl.Trainer, module: Any, watch: CollapseWatch, real: RealImages, config: TrainConfig,
            data: str | Path, run_dir: Path, command: str | None, channels: int, start: float,
            status: Callable[[str], None]) -> TrainResult:
    """After ``fit`` (on rank 0 alone): the stop reason, the last collapse check and the EMA generator's bundle."""
    from sightkit.engine.trainer import stop_reason

    stopped = stop_reason(trainer)
    if stopped == "max_minutes":
        status(f"training stopped by --max-minutes {config.max_minutes:g} after {trainer.current_epoch} of "
               f"{config.epochs} epochs; the last EMA generator is kept")
    diversity = _metric(trainer, "diversity")
    if diversity is not None and diversity < config.collapse_ratio:
        watch.report("the final model", diversity)
    ema = module.generator_ema.module.cpu().eval()
    meta = _meta(real, config, data, command, channels)
    meta["training"].update({"epochs_run": trainer.current_epoch, "steps_run": int(module.batches_seen),
                             "stopped": stopped, "minutes": round((time.perf_counter() - start) / 60, 2),
                             "diversity": diversity,
                             "collapse_warnings": len(watch.warnings)})
    bundle = save_bundle(run_dir / "model", ema.state_dict(), meta)
    return TrainResult(run_dir, bundle, meta, watch.warnings)


def _check_classes(real: RealImages, config: TrainConfig) -> None:
    if config.conditional and len(real.classes) < 2:
        raise DataError(f"DATA {real.source}: a conditional GAN needs at least two class subfolders "
                        f"(found {len(real.classes)}); use --unconditional for images of one kind")


def _loader(real: RealImages, config: TrainConfig, world_size: int = 1) -> DataLoader:
    """One process's loader: ``--batch-size`` is the global batch, shared by the ``world_size`` processes
    (Lightning gives each its own part of the images under DDP)."""
    if len(real) < 2 * world_size:
        raise DataError(f"DATA {real.source}: at least {2 * world_size} images are needed to train a GAN on "
                        f"{world_size} process(es) (found {len(real)})")
    batch = global_batch_share(config.batch_size, world_size)
    batch = min(batch, len(real) // world_size)
    dataset = TensorDataset(real.as_float(), real.labels)
    # In memory and tiny: workers would only copy the tensors.
    return DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=0)


def _meta(real: RealImages, config: TrainConfig, data: str | Path, command: str | None,
          channels: int) -> dict[str, Any]:
    real_float = real.as_float()
    sample = real_float[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:256]]
    return {
        "task": TASK,
        "architecture": {"name": config.arch, "size": config.size, "channels": channels,
                         "num_classes": len(real.classes) if config.conditional else 0, "z_dim": config.z_dim,
                         "width": config.width},
        "classes": real.classes if config.conditional else [],
        "preprocessing": {"mode": real.mode, "size": config.size, "range": "-1..1 (tanh); noise N(0, 1)"},
        "data": {"source": real.source, "images": len(real), "classes": real.classes,
                 "real_diversity": mean_pairwise_distance(sample)},
        "training": {"config": config.model_dump(), "data": str(data), "command": command,
                     "loss": "hinge", "weights": "generator EMA"},
    }


def _metric(trainer: pl.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return float(value) if value is not None else None
