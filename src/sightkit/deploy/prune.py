"""Structured channel pruning with torch-pruning, then fine-tuning, into a normal bundle.

Each prunable layer loses ``ratio`` of its channels, the ones of smallest L2 weight norm
(``GroupMagnitudeImportance``: channels coupled by residual additions are ranked and
removed together); the classifier's output layer keeps all classes. The pruned sizes are
stored as a channel recipe in ``bundle.json`` (``architecture.channels``), so
``Classifier.load`` rebuilds the model without unpickling.

Example:
    >>> result = prune_bundle("runs/cifar/model", "data/cifar", "runs/cifar-pruned", ratio=0.5, epochs=5)  # doctest: +SKIP
    >>> result.summary["macs_after"] / result.summary["macs_before"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sightkit.core.bundle import read_meta
from sightkit.core.channels import channel_recipe
from sightkit.deploy.finetune import check_data, finetune, finetune_config
from sightkit.errors import ConfigError, DeployError
from sightkit.tasks.classify.model import create_model
from sightkit.tasks.classify.predict import TASK, Predictor

log = logging.getLogger(__name__)

FINETUNE_LR_FACTOR = 0.25  # fine-tuning a pruned model starts at a quarter of the original peak LR


@dataclass
class PruneResult:
    """The pruned bundle and a summary: sizes, MACs, accuracy before / after, torch speed-up."""

    bundle_path: Path
    summary: dict[str, Any]


def prune_bundle(bundle: str | Path, data: str | Path, out: str | Path, *, ratio: float = 0.5, epochs: int = 5,
                 lr: float | None = None, max_minutes: float | None = None, round_to: int | None = None,
                 progress: bool = True, status: Callable[[str], None] = log.info) -> PruneResult:
    """Prune ``ratio`` of the channels of ``bundle``, fine-tune on ``data``, save ``out/model``."""
    check_ratio(ratio)
    meta = read_meta(bundle)
    if meta["task"] != TASK:
        raise DeployError(f"{bundle}: pruning supports '{TASK}' bundles, not '{meta['task']}' yet")
    base_lr = finetune_config(meta).lr
    config = finetune_config(meta, epochs=epochs, lr=lr or base_lr * FINETUNE_LR_FACTOR, max_minutes=max_minutes)
    check_data(data)
    source = Predictor.from_bundle(bundle)
    model, arch = source.model, meta["architecture"]
    example = torch.zeros(1, arch["in_chans"], source.size, source.size)
    macs_before, params_before = _count(model, example)
    pruned = prune_model(model, example, len(source.classes), ratio, round_to)
    macs_after, params_after = _count(pruned, example)
    status(f"pruned {ratio:.0%} of channels: {params_before:,} -> {params_after:,} parameters, "
           f"{macs_before / 1e6:.1f} -> {macs_after / 1e6:.1f} MMACs")
    reference = create_model(arch["name"], num_classes=len(source.classes), in_chans=arch["in_chans"])
    summary: dict[str, Any] = {"ratio": ratio, "params_before": params_before, "params_after": params_after,
                               "macs_before": macs_before, "macs_after": macs_after, "source": str(bundle),
                               "method": "torch-pruning GroupMagnitudeImportance (L2), structured channels"}
    new_meta = {k: v for k, v in meta.items() if k not in ("metrics", "format_version", "sightkit_version", "created")}
    new_meta["architecture"] = {**arch, "channels": channel_recipe(pruned, reference)}
    new_meta["pruning"] = summary
    result = finetune(pruned, data, new_meta, out, config, progress=progress, status=status)
    from sightkit.tasks.classify.evaluate import evaluate

    summary["accuracy_before"] = evaluate(Predictor.from_bundle(bundle), result.held_out)["accuracy"]
    summary["accuracy_after"] = result.report["accuracy"]
    summary["split"] = result.report["split"]
    return PruneResult(result.bundle_path, summary)


def check_ratio(ratio: float) -> None:
    """Raise :class:`ConfigError` unless ``ratio`` (the share of channels to remove) is in (0, 1).

    Example:
        >>> check_ratio(0.5)
    """
    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"--ratio {ratio}: give the share of channels to remove, in (0, 1)")


def prune_model(model: nn.Module, example: torch.Tensor, num_classes: int, ratio: float,
                round_to: int | None = None) -> nn.Module:
    """Remove ``ratio`` of every prunable layer's channels in place (the output layer is kept whole)."""
    import torch_pruning as tp

    outputs = [m for m in model.modules() if (isinstance(m, nn.Linear) and m.out_features == num_classes)
               or (isinstance(m, nn.Conv2d) and m.out_channels == num_classes)]
    model.eval()
    try:
        pruner = tp.pruner.MetaPruner(model, example, importance=tp.importance.GroupMagnitudeImportance(p=2),
                                      pruning_ratio=ratio, ignored_layers=outputs[-1:], round_to=round_to)
        pruner.step()
    except Exception as exc:  # torch-pruning cannot trace every architecture
        raise DeployError(f"torch-pruning could not prune this model ({type(exc).__name__}: {exc})") from None
    return model


def _count(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(model, example)
    return int(macs), int(params)
