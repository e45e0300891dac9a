"""Train an inpainting model from a folder of images, end to end.

Stage 1 trains the gated generator with L1 loss (``model-l1``); stage 2, when ``gan_epochs``
> 0, continues adversarially on the shared GAN engine (``model-gan``, EMA weights). A run
folder holds ``config.json``, ``l1/`` and ``gan/`` (checkpoints, logs, sample grids) and
the bundles; an interrupted run continues with ``resume=True``.

Example:
    >>> result = train(Path("photos"), make_inpaint_config(epochs=10))  # doctest: +SKIP
    >>> result.bundles["l1"]  # doctest: +SKIP
    PosixPath('runs/inpaint-photos-20260101-120000/model-l1')
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from sightkit.core.bundle import load_bundle, save_bundle
from sightkit.engine.distributed import (check_distributed_options, expected_world_size, global_batch_share,
                                         on_rank_zero, rank_zero_status, run_folder,
                                         trainer_options)
from sightkit.errors import ConfigError
from sightkit.tasks.enhance.data import read_hr_folder
from sightkit.tasks.enhance.train import write_run_config
from sightkit.tasks.enhance.inpaint.config import InpaintConfig, make_inpaint_config
from sightkit.tasks.enhance.inpaint.data import CropDataset, ValidationHoles
from sightkit.tasks.enhance.inpaint.model import create_inpainter

log = logging.getLogger(__name__)

TASK = "inpaint"
CONFIG_FILE = "config.json"
STAGES = ("l1", "gan")
_SAMPLE_SEED = 12345


@dataclass
class InpaintTrainResult:
    """What a training run produced: bundles by stage (``l1``, ``gan``) and the final metadata."""

    run_dir: Path
    bundles: dict[str, Path]
    meta: dict[str, Any]


def default_run_dir(data: Path) -> Path:
    """``runs/inpaint-<data>-<YYYYmmdd-HHMMSS>``."""
    return Path("runs") / f"inpaint-{data.stem or 'data'}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def load_run_config(run_dir: Path, overrides: dict[str, Any]) -> tuple[InpaintConfig, str | None]:
    """The saved config (and ``--init`` bundle) of ``run_dir`` with ``overrides`` applied, to resume."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"--resume: {run_dir} has no {CONFIG_FILE}; start a new run without --resume")
    saved = json.loads(path.read_text())
    return make_inpaint_config(**{**saved["config"], **overrides}), saved.get("init")


def train(data: Path, config: InpaintConfig, run_dir: Path | None = None, *, init: str | Path | None = None,
          resume: bool = False, progress: bool = True, command: str | None = None,
          status: Callable[[str], None] = log.info) -> InpaintTrainResult:
    """Run stage 1 (unless ``epochs`` is 0 with ``init``) and stage 2 (if ``gan_epochs``); save bundles."""
    import lightning.pytorch as pl

    from sightkit.engine.trainer import resolve_accelerator

    if config.epochs == 0 and (init is None or config.gan_epochs == 0):
        raise ConfigError("nothing to train: --epochs 0 needs --init BUNDLE and --gan-epochs > 0")
    resolve_accelerator(config.device)
    check_distributed_options(config.devices, config.num_nodes, config.strategy, config.batch_size,
                              run_dir_given=run_dir is not None)
    status = rank_zero_status(status)
    pl.seed_everything(config.seed, verbose=False)
    generator = _initial_generator(config, init)
    run_dir = run_dir or default_run_dir(data)
    images, skipped = read_hr_folder(data, min_side=16, label="FOLDER")
    for _, reason in skipped:
        status(f"skipped {reason}")
    train_images, val_images = _split(images, config)
    status(f"data: {len(train_images)} training and {len(val_images)} validation images from {data}")
    with run_folder(run_dir, resume=resume):
        write_run_config(run_dir, data, init, config, train_images, val_images)
        # Crops are seeded by index, so each DDP process (its own share of the indices) crops differently.
        crops = CropDataset([im for _, im in train_images], config.patch, config.steps * config.batch_size,
                            config.scale_range, config.seed)
        batch = global_batch_share(config.batch_size, expected_world_size(config.devices, config.num_nodes))
        train_loader = DataLoader(crops, batch_size=batch, num_workers=0, drop_last=True)
        val_loader = DataLoader(ValidationHoles([im for _, im in val_images], config.seed),
                                batch_size=1) if val_images else None
        base_meta = _base_meta(generator, config, data, len(train_images), command, init)
        bundles: dict[str, Path] = {}
        meta = base_meta
        for stage, epochs in zip(STAGES, (config.epochs, config.gan_epochs)):
            if epochs == 0:
                continue
            start = time.perf_counter()
            status(f"stage {'1: L1' if stage == 'l1' else '2: adversarial'} training, {epochs} epochs "
                   f"of {config.steps} steps of {config.batch_size} crops")
            generator, summary, trainer = _fit_stage(stage, generator, config, run_dir / stage, train_loader,
                                                     val_loader, resume, progress)
            meta = {**base_meta, "kind": stage}
            meta["training"] = {**base_meta["training"], **summary,
                                "minutes": round((time.perf_counter() - start) / 60, 2)}
            bundles[stage] = on_rank_zero(trainer, lambda: save_bundle(run_dir / f"model-{stage}",
                                                                       generator.state_dict(), meta))
            status(f"saved {bundles[stage]}")
            resume = False
    return InpaintTrainResult(run_dir, bundles, meta)


def _split(images: list[tuple[Path, Image.Image]], config: InpaintConfig) -> tuple[list, list]:
    if config.val_fraction == 0 or len(images) < 2:
        return images, []
    order = list(range(len(images)))
    random.Random(config.seed).shuffle(order)
    n_val = max(1, round(len(images) * config.val_fraction))
    return [images[i] for i in sorted(order[n_val:])], [images[i] for i in sorted(order[:n_val])]


def _initial_generator(config: InpaintConfig, init: str | Path | None) -> nn.Module:
    generator = create_inpainter(channels=3, width=config.width)
    if init is None:
        return generator
    from sightkit.tasks.enhance.inpaint.shipped import resolve_inpaint_model

    state, meta = load_bundle(resolve_inpaint_model(init), task=TASK)
    if meta["architecture"].get("width") != config.width:
        raise ConfigError(f"--init {init}: its width {meta['architecture'].get('width')} differs from --width "
                          f"{config.width}; pass the same --width")
    generator.load_state_dict(state)
    return generator


def _fit_stage(stage: str, generator: nn.Module, config: InpaintConfig, stage_dir: Path, train_loader: DataLoader,
               val_loader: DataLoader | None, resume: bool, progress: bool) -> tuple[nn.Module, dict, Any]:
    """Fit one stage; return the generator to save (best L1 by validation, or the GAN's last EMA), a summary
    and the trainer."""
    from sightkit.engine.trainer import build_trainer

    ckpt = stage_dir / "checkpoints" / "last.ckpt"
    ckpt_path = str(ckpt) if resume and ckpt.is_file() else None
    monitor, mode = ("val_hole_psnr", "max") if val_loader is not None else ("train_l1", "min")
    if stage == "l1":
        from sightkit.tasks.enhance.inpaint.module import InpaintPixelModule

        module: Any = InpaintPixelModule(generator, config)
        trainer = build_trainer(stage_dir, max_epochs=config.epochs, monitor=monitor, mode=mode,
                                device=config.device, max_minutes=config.max_minutes, progress=progress,
                                resuming=ckpt_path is not None, **trainer_options(config))
    else:
        from sightkit.engine.gan import build_gan_trainer
        from sightkit.tasks.enhance.inpaint.module import InpaintGanModule, training_masks

        real = torch.stack([train_loader.dataset[i] for i in range(4)])
        sample = (real, training_masks(4, real.shape[2], real.shape[3], 1, 1, 0.3, _SAMPLE_SEED))
        module = InpaintGanModule(generator, config, sample_batch=sample)
        if val_loader is None:
            monitor, mode = "g_pixel", "min"
        trainer = build_gan_trainer(stage_dir, max_epochs=config.gan_epochs, monitor=monitor, mode=mode,
                                    device=config.device, max_minutes=config.max_minutes, progress=progress,
                                    resuming=ckpt_path is not None, **trainer_options(config))
    trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path)
    summary = {"epochs_run": trainer.current_epoch, "steps_run": trainer.global_step,
               "last_" + monitor: _metric(trainer, monitor)}
    if stage == "gan":
        return module.generator_ema.module.cpu(), summary, trainer
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if val_loader is not None and best and Path(best).is_file():
        module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
        summary["best_val_hole_psnr"] = float(trainer.checkpoint_callback.best_model_score)
    return module.generator.cpu(), summary, trainer


def _metric(trainer: Any, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return float(value) if value is not None else None


def _base_meta(generator: nn.Module, config: InpaintConfig, data: Path, n_images: int, command: str | None,
               init: str | Path | None) -> dict[str, Any]:
    return {
        "task": TASK,
        "architecture": {"name": "gated", "channels": 3, "width": config.width},
        "preprocessing": {"color": "rgb", "range": "0-1", "train_patch": config.patch},
        "parameters": sum(p.numel() for p in generator.parameters()),
        "training": {"config": config.model_dump(), "data": str(data), "images": n_images, "command": command,
                     "init": str(init) if init else None},
    }
