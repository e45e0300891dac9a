"""Train an anomaly detector on a folder of normal images and write its bundle.

Part of the images (``val_fraction``) is held out: the model never sees them, and the default
threshold is the ``1 - false_alarm`` quantile of their scores. The bundle holds the network
(and PatchCore's memory bank) in ``weights.safetensors``; ``bundle.json`` holds the method,
the preprocessing, the threshold, and the training images that look unlike the rest.

Example:
    >>> train("cameras/normal", TrainConfig(method="patchcore"), "runs/cam.sightkit")  # doctest: +SKIP
    PosixPath('runs/cam.sightkit')
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sightkit.core.bundle import load_bundle, save_bundle
from sightkit.errors import ConfigError
from sightkit.tasks.anomaly.config import TrainConfig
from sightkit.tasks.anomaly.data import image_mode, list_images, load_batch, split_holdout
from sightkit.tasks.anomaly.memory_bank import greedy_coreset
from sightkit.tasks.anomaly.model import (BUILTIN_BACKBONE, RANDOM_WIDTHS, ClassifyBackbone, ConvAutoencoder,
                                          PatchFeatures, RandomWideCNN)
from sightkit.tasks.anomaly.predict import TASK, AnomalyScorer
from sightkit.tasks.anomaly.suspects import knn_distances, outliers

DEFAULT_SIZE = 64
AUTOENCODER = {"width": 32, "latent": 16}
# Suspects listed in bundle.json (the most unusual first); the count covers them all.
MAX_SUSPECTS = 50


def train(folder: str | Path, config: TrainConfig, out: str | Path, *, command: str = "",
          status: Callable[[str], None] = lambda message: None) -> Path:
    """Fit ``config.method`` on the images under ``folder``; write the bundle to ``out`` and return it."""
    started = time.monotonic()
    torch.manual_seed(config.seed)
    paths, skipped = list_images(folder)
    if skipped:
        status(f"skipped {len(skipped)} unreadable files, e.g. {skipped[0]['reason']}")
    fit_paths, held_paths = split_holdout(paths, config.val_fraction, config.seed)
    backbone, prep, backbone_spec = _preprocessing(config, paths)
    status(f"data: {len(fit_paths)} images to fit, {len(held_paths)} held out for the threshold "
           f"({prep['mode']}, {prep['size']} px)")
    fit = load_batch(fit_paths, prep["mode"], prep["size"])
    held = load_batch(held_paths, prep["mode"], prep["size"])
    meta: dict[str, Any] = {"task": TASK, "method": config.method, "preprocessing": prep}
    if config.method == "patchcore":
        net: torch.nn.Module = PatchFeatures(backbone)
        scorer = AnomalyScorer(net, meta)
        bank, pooled, patches = _memory_bank(scorer, fit, config, status)
        scorer.bank = bank
        meta["backbone"] = backbone_spec
        outlier_values = knn_distances(pooled)
        fitted = {"patches": patches, "bank_size": int(bank.shape[0])}
    else:
        net = ConvAutoencoder(len(prep["mean"]), **AUTOENCODER)
        scorer = AnomalyScorer(net, meta)
        losses = _fit_autoencoder(scorer, fit, config, status)
        meta["autoencoder"] = dict(AUTOENCODER)
        outlier_values = scorer.score_batch(fit)[0].numpy()
        fitted = {"final_loss": losses[-1], "loss_per_epoch": [round(v, 6) for v in losses]}
    meta["threshold"] = _threshold(scorer, held, config.false_alarm)
    suspects = _suspects(outlier_values, fit_paths)
    if suspects:
        status(f"warning: {len(suspects)} of {len(fit_paths)} training images look unlike the rest; check them "
               f"for anomalies mixed in: {', '.join(s['path'] for s in suspects[:3])}"
               f"{' ...' if len(suspects) > 3 else ''} (all in training.suspects of bundle.json)")
    meta["training"] = {"data": str(folder), "config": config.summary(), "images": len(fit_paths),
                        "held_out": len(held_paths), "skipped": skipped, **fitted,
                        "suspect_count": len(suspects), "suspects": suspects[:MAX_SUSPECTS],
                        "seconds": round(time.monotonic() - started, 1), "command": command}
    state = dict(net.state_dict())
    if scorer.bank is not None:
        state["memory_bank"] = scorer.bank
    dataset = {"fit": [str(p.resolve()) for p in fit_paths], "held_out": [str(p.resolve()) for p in held_paths]}
    return save_bundle(out, state, meta, extras={"dataset.json": json.dumps(dataset, indent=1).encode()})


def _preprocessing(config: TrainConfig, paths: list[Path]) -> tuple[torch.nn.Module | None, dict[str, Any],
                                                                     dict[str, Any] | None]:
    """The backbone (PatchCore), the preprocessing and the backbone's ``bundle.json`` description."""
    from sightkit.tasks.classify.model import default_normalization

    if config.backbone is not None:
        if config.method != "patchcore":
            raise ConfigError("--backbone is for --method patchcore (the autoencoder learns its own features)")
        return _classify_backbone(config)
    mode = image_mode(paths)
    channels = 1 if mode == "L" else 3
    size = config.size or DEFAULT_SIZE
    if config.method == "autoencoder" and size % 8:
        raise ConfigError(f"--size {size}: the autoencoder needs a multiple of 8")
    mean, std = default_normalization("skcnn_small", channels)
    prep = {"mode": mode, "size": size, "mean": mean, "std": std}
    if config.method != "patchcore":
        return None, prep, None
    spec = {"kind": "builtin", "name": BUILTIN_BACKBONE, "in_chans": channels, "widths": list(RANDOM_WIDTHS),
            "seed": config.seed}
    return RandomWideCNN(channels, RANDOM_WIDTHS, config.seed), prep, spec


def _classify_backbone(config: TrainConfig) -> tuple[torch.nn.Module, dict[str, Any], dict[str, Any]]:
    from sightkit.core.channels import apply_channel_recipe
    from sightkit.tasks.classify.model import create_model

    state, meta = load_bundle(config.backbone, task="classify")
    arch = meta["architecture"]
    model = create_model(arch["name"], num_classes=len(meta["classes"]), in_chans=arch["in_chans"])
    apply_channel_recipe(model, arch.get("channels", {}))
    model.load_state_dict(state)
    prep = dict(meta["preprocessing"])
    size = config.size or int(prep["size"])
    prep = {"mode": prep["mode"], "size": size, "mean": list(prep["mean"]), "std": list(prep["std"])}
    spec = {"kind": "classify", "name": arch["name"], "in_chans": arch["in_chans"],
            "num_classes": len(meta["classes"]), "channels": arch.get("channels", {}), "source": str(config.backbone)}
    return ClassifyBackbone(model.eval(), size), prep, spec


@torch.inference_mode()
def _memory_bank(scorer: AnomalyScorer, images: torch.Tensor, config: TrainConfig,
                 status: Callable[[str], None]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The coreset of the training patch features, per-image mean features and the patch count."""
    feats, pooled = [], []
    for start in range(0, images.shape[0], config.batch_size):
        batch = scorer.net(scorer.normalise(images[start:start + config.batch_size]))
        pooled.append(batch.mean(dim=(2, 3)))
        feats.append(batch.permute(0, 2, 3, 1).reshape(-1, batch.shape[1]))
    patches = torch.cat(feats)
    n = min(config.max_bank, max(1, math.ceil(config.coreset_fraction * patches.shape[0])))
    status(f"memory bank: {n:,} of {patches.shape[0]:,} patch features ({patches.shape[1]} values each), "
           "greedy coreset")
    return patches[greedy_coreset(patches, n, config.seed)].clone(), torch.cat(pooled), int(patches.shape[0])


def _fit_autoencoder(scorer: AnomalyScorer, images: torch.Tensor, config: TrainConfig,
                     status: Callable[[str], None]) -> list[float]:
    """Train the autoencoder with a mean-squared reconstruction loss; returns the loss per epoch."""
    net = scorer.net.train()
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    generator = torch.Generator().manual_seed(config.seed)
    data = scorer.normalise(images)
    losses = []
    for epoch in range(config.epochs):
        order, total = torch.randperm(data.shape[0], generator=generator), 0.0
        for start in range(0, data.shape[0], config.batch_size):
            batch = data[order[start:start + config.batch_size]]
            if batch.shape[0] < 2:
                continue  # batch norm needs two images
            loss = torch.nn.functional.mse_loss(net(batch), batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * batch.shape[0]
        schedule.step()
        losses.append(total / data.shape[0])
        if (epoch + 1) % 10 == 0 or epoch + 1 == config.epochs:
            status(f"epoch {epoch + 1}/{config.epochs}: reconstruction loss {losses[-1]:.4f}")
    net.eval()
    return losses


def _threshold(scorer: AnomalyScorer, held: torch.Tensor, false_alarm: float) -> dict[str, Any]:
    """The default threshold: the ``1 - false_alarm`` quantile of the held-out normal scores.

    ``map_reference`` is the same quantile of the held-out maps' maxima: the heatmap colour scale.
    """
    scores, maxima = [], []
    for start in range(0, held.shape[0], 64):
        batch_scores, maps = scorer.score_batch(held[start:start + 64])
        scores.append(batch_scores)
        maxima.append(maps.flatten(1).max(dim=1).values)
    values, peaks = torch.cat(scores).numpy(), torch.cat(maxima).numpy()
    level = 1.0 - false_alarm
    threshold = float(np.quantile(values, level, method="higher"))
    return {"value": threshold, "false_alarm": false_alarm, "held_out": int(values.size),
            "held_out_false_alarm": float((values > threshold).mean()),
            "map_reference": max(float(np.quantile(peaks, level)), 1e-12),
            "held_out_scores": {"min": float(values.min()), "median": float(np.median(values)),
                                "max": float(values.max())}}


def _suspects(values: np.ndarray, paths: list[Path]) -> list[dict[str, Any]]:
    """The training images whose outlier value is far above the rest's, most unusual first."""
    return [{"path": str(paths[i]), "value": round(float(values[i]), 6)} for i in outliers(values)]
