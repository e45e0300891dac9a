"""Train a super-resolution model from a folder of HR images, end to end.

Stage 1 trains the generator with L1 loss (``model-psnr``); stage 2, when ``gan_epochs`` > 0,
fine-tunes a copy adversarially with the shared GAN engine (``model-gan``, EMA weights).
A run folder holds ``config.json``, ``pixel/`` and ``gan/`` (checkpoints, logs, samples),
the bundles, and ``report/`` when images were held out for validation.

Example:
    >>> result = train(Path("data/T91"), make_config(scale=4, epochs=30))  # doctest: +SKIP
    >>> result.bundles["psnr"]  # doctest: +SKIP
    PosixPath('runs/enhance-lightsr-x4-T91-20250101-120000/model-psnr')
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from sightkit.core.bundle import load_bundle, save_bundle
from sightkit.core.fileio import atomic_write_text
from sightkit.engine.distributed import (check_distributed_options, expected_world_size, global_batch_share,
                                         is_launch_rank_zero, launch_rank, on_rank_zero, rank_zero_status, run_folder,
                                         trainer_options)
from sightkit.errors import ConfigError
from sightkit.tasks.enhance.config import TrainConfig, make_config
from sightkit.tasks.enhance.data import PatchDataset, ValidationImages, read_hr_folder
from sightkit.tasks.enhance.model import count_parameters, create_generator, receptive_field
from sightkit.tasks.enhance.perceptual import check_feature_net

log = logging.getLogger(__name__)

TASK = "enhance"
CONFIG_FILE = "config.json"
STAGES = {"psnr": "pixel", "gan": "gan"}  # bundle kind -> stage folder


@dataclass
class TrainResult:
    """What a training run produced: bundles by kind (``psnr``, ``gan``) and the final metadata."""

    run_dir: Path
    bundles: dict[str, Path]
    meta: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)


def default_run_dir(data: Path, config: TrainConfig) -> Path:
    """``runs/enhance-<arch>-x<scale>-<data>-<YYYYmmdd-HHMMSS>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"enhance-{config.arch}-x{config.scale}-{data.stem or 'data'}-{stamp}"


def load_run_config(run_dir: Path, overrides: dict[str, Any]) -> tuple[TrainConfig, str | None]:
    """The saved config (and ``--init`` bundle) of ``run_dir`` with ``overrides`` applied, to resume."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"--resume: {run_dir} has no {CONFIG_FILE}; start a new run without --resume")
    saved = json.loads(path.read_text())
    return make_config(**{**saved["config"], **overrides}), saved.get("init")


def write_run_config(run_dir: Path, data: Path, init: str | Path | None, config: Any,
                     train_images: list[tuple[Path, Any]], val_images: list[tuple[Path, Any]]) -> None:
    """Write ``run_dir/config.json`` (data, ``--init``, options, the split) once, on rank 0, for ``--resume``.

    Example:
        >>> write_run_config(Path("runs/x"), Path("photos"), None, config, train, val)  # doctest: +SKIP
    """
    if is_launch_rank_zero():
        atomic_write_text(run_dir / CONFIG_FILE, json.dumps(
            {"data": str(data), "init": str(init) if init else None, "config": config.model_dump(),
             "train_images": [str(p) for p, _ in train_images], "val_images": [str(p) for p, _ in val_images]},
            indent=2))


def train(data: Path, config: TrainConfig, run_dir: Path | None = None, *, init: str | Path | None = None,
          resume: bool = False, progress: bool = True, command: str | None = None,
          status: Callable[[str], None] = log.info) -> TrainResult:
    """Run stage 1 (unless ``epochs`` is 0 with ``init``) and stage 2 (if ``gan_epochs``); save bundles."""
    import lightning.pytorch as pl

    from sightkit.engine.trainer import resolve_accelerator

    if config.epochs == 0 and (init is None or config.gan_epochs == 0):
        raise ConfigError("nothing to train: --epochs 0 needs --init BUNDLE and --gan-epochs > 0")
    resolve_accelerator(config.device)
    check_distributed_options(config.devices, config.num_nodes, config.strategy, config.batch_size,
                              run_dir_given=run_dir is not None)
    status = rank_zero_status(status)
    if config.gan_epochs:
        check_feature_net(config.feature_net, config.feature_layer)
    pl.seed_everything(config.seed, verbose=False)
    generator = _initial_generator(config, init)  # checks --arch and --init before the data is read
    run_dir = run_dir or default_run_dir(data, config)
    images, skipped = read_hr_folder(data, min_side=config.patch)
    for _, reason in skipped:
        status(f"skipped {reason}")  # the reason names the file
    train_images, val_images = _split(images, config)
    status(f"data: {len(train_images)} training and {len(val_images)} validation images from {data}")
    # A run that fails is removed again (unless it was resumed, or interrupted: --resume continues it).
    with run_folder(run_dir, resume=resume):
        write_run_config(run_dir, data, init, config, train_images, val_images)
        loaders = _loaders([im for _, im in train_images], [im for _, im in val_images], config)
        base_meta = _base_meta(generator, config, data, len(train_images), command, init)

        bundles: dict[str, Path] = {}
        for kind, epochs in (("psnr", config.epochs), ("gan", config.gan_epochs)):
            if epochs == 0:
                continue
            bundle = run_dir / f"model-{kind}"
            start = time.perf_counter()
            status(f"stage {'1: L1' if kind == 'psnr' else '2: adversarial'} training, {epochs} epochs "
                   f"of {config.steps} steps")
            generator, summary, trainer = _fit_stage(kind, generator, config, run_dir / STAGES[kind], loaders,
                                                     resume, progress)
            meta = {**base_meta, "kind": kind}
            meta["training"] = {**base_meta["training"], **summary,
                                "minutes": round((time.perf_counter() - start) / 60, 2)}
            bundles[kind] = on_rank_zero(trainer, lambda: save_bundle(bundle, generator.state_dict(), meta))
            status(f"saved {bundle}")
            resume = False  # a later stage of a resumed run starts fresh unless it has its own checkpoint
        final = bundles.get("gan", bundles.get("psnr"))
        report = on_rank_zero(trainer, lambda: _report(final, val_images, run_dir / "report")) if val_images else {}
    return TrainResult(run_dir, bundles, meta, report)


def _split(images: list[tuple[Path, Image.Image]], config: TrainConfig) -> tuple[list, list]:
    """Hold out ``val_fraction`` of the images (at least one when the fraction is > 0 and 2+ images)."""
    if config.val_fraction == 0 or len(images) < 2:
        return images, []
    order = list(range(len(images)))
    random.Random(config.seed).shuffle(order)
    n_val = max(1, round(len(images) * config.val_fraction))
    val = sorted(order[:n_val])
    return [images[i] for i in sorted(order[n_val:])], [images[i] for i in val]


def _initial_generator(config: TrainConfig, init: str | Path | None) -> nn.Module:
    channels = 1 if config.color == "y" else 3
    generator = create_generator(config.arch, config.scale, channels, **config.arch_args)
    if init is None:
        return generator
    from sightkit.tasks.enhance.shipped import resolve_model

    state, meta = load_bundle(resolve_model(init), task=TASK)
    arch = meta["architecture"]
    wanted = {"name": config.arch, "scale": config.scale, "channels": channels, **config.arch_args}
    if any(arch.get(k) != v for k, v in wanted.items()):
        raise ConfigError(f"--init {init}: its architecture {arch} differs from this run's {wanted}; "
                          "pass the same --arch, --scale and --color")
    generator.load_state_dict(state)
    return generator


def _loaders(train_images: list[Image.Image], val_images: list[Image.Image],
             config: TrainConfig) -> tuple[DataLoader, DataLoader | None]:
    channels = 1 if config.color == "y" else 3
    # --batch-size is the global batch: each of the DDP processes takes its share of every step's crops,
    # drawn from its own random stream (Lightning's sampler gives it its share of the epoch's indices).
    batch = global_batch_share(config.batch_size, expected_world_size(config.devices, config.num_nodes))
    patches = PatchDataset(train_images, config.scale, config.patch, channels, config.steps * config.batch_size,
                           config.degradation, config.seed, stream=launch_rank())
    # Crops come from memory in microseconds; workers would only copy the pyramid (and its RNG).
    train_loader = DataLoader(patches, batch_size=batch, num_workers=0, drop_last=True)
    val_loader = DataLoader(ValidationImages(val_images, config.scale, channels), batch_size=1) if val_images else None
    return train_loader, val_loader


def _fit_stage(kind: str, generator: nn.Module, config: TrainConfig, stage_dir: Path,
               loaders: tuple[DataLoader, DataLoader | None], resume: bool,
               progress: bool) -> tuple[nn.Module, dict, Any]:
    """Fit one stage; return the generator to save (best or last; EMA for GAN), a summary and the trainer."""
    from sightkit.engine.trainer import build_trainer

    train_loader, val_loader = loaders
    monitor, mode = ("val_psnr", "max") if val_loader is not None else ("train_l1", "min")
    ckpt = stage_dir / "checkpoints" / "last.ckpt"
    ckpt_path = str(ckpt) if resume and ckpt.is_file() else None
    if kind == "psnr":
        from sightkit.tasks.enhance.lit_module import PixelModule

        module = PixelModule(generator, config)
        trainer = build_trainer(stage_dir, max_epochs=config.epochs, monitor=monitor, mode=mode,
                                device=config.device, max_minutes=config.max_minutes, progress=progress,
                                resuming=ckpt_path is not None, **trainer_options(config))
    else:
        from sightkit.engine.gan import build_gan_trainer
        from sightkit.tasks.enhance.gan_module import SrGanModule

        module = SrGanModule(generator, config, sample_batch=next(iter(val_loader or train_loader)))
        monitor, mode = ("val_psnr", "max") if val_loader is not None else ("g_pixel", "min")
        trainer = build_gan_trainer(stage_dir, max_epochs=config.gan_epochs, monitor=monitor, mode=mode,
                                    device=config.device, max_minutes=config.max_minutes, progress=progress,
                                    resuming=ckpt_path is not None, **trainer_options(config))
    trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path)
    summary = {"epochs_run": trainer.current_epoch, "steps_run": trainer.global_step,
               "last_" + monitor: _metric(trainer, monitor)}
    if kind == "gan":  # GAN losses do not rank checkpoints: keep the last EMA generator
        return module.generator_ema.module.to(memory_format=torch.contiguous_format).cpu(), summary, trainer
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if val_loader is not None and best and Path(best).is_file():
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
        summary["best_val_psnr"] = float(trainer.checkpoint_callback.best_model_score)
    return module.generator.to(memory_format=torch.contiguous_format).cpu(), summary, trainer


def _metric(trainer: Any, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return float(value) if value is not None else None


def _base_meta(generator: nn.Module, config: TrainConfig, data: Path, n_images: int, command: str | None,
               init: str | Path | None) -> dict[str, Any]:
    channels = 1 if config.color == "y" else 3
    feature = config.feature_net if config.feature_net == "random" else f"vgg19:{config.feature_layer} ({config.feature_net})"
    return {
        "task": TASK,
        "architecture": {"name": config.arch, "scale": config.scale, "channels": channels, **config.arch_args},
        "preprocessing": {"color": config.color, "range": "0-1",
                          "note": "Y is BT.601 full range; chroma and alpha are upscaled bicubically"},
        "receptive_field": receptive_field(generator),
        "parameters": count_parameters(generator),
        "training": {"config": config.model_dump(), "data": str(data), "images": n_images, "command": command,
                     "init": str(init) if init else None, "degradation": config.degradation,
                     "feature_net": feature if config.gan_epochs else None},
    }


def _report(bundle: Path, val_images: list[tuple[Path, Image.Image]], out_dir: Path) -> dict[str, Any]:
    from sightkit.tasks.enhance.api import Upscaler

    return Upscaler.load(bundle).evaluate([p for p, _ in val_images], out_dir)
