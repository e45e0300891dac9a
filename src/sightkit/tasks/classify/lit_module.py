"""The Lightning module of classification: what one training / validation step computes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Timer
from lightning_utilities.core.apply_func import apply_to_collection
from torch import nn
from torchmetrics.classification import MulticlassAccuracy
from torchvision.transforms import v2

from sightkit.engine.schedule import warmup_cosine
from sightkit.tasks.classify.budget import BUDGET_SHARE
from sightkit.tasks.classify.config import TrainConfig
from sightkit.tasks.classify.transfer import backbone_lr_scale, backbone_norms_eval, parameter_groups


class ClassificationModule(pl.LightningModule):
    """Cross-entropy training with label smoothing, optional MixUp/CutMix and optional class weights.

    Logs ``train_loss``, ``train_acc``, ``val_loss`` and ``val_acc``; under DDP the epoch values are
    averaged over the processes (``sync_dist``), so every rank checkpoints and stops on the same numbers.
    """

    def __init__(self, model: nn.Module, num_classes: int, config: TrainConfig,
                 class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        # channels_last (NHWC) convolutions: 1.24-1.37x faster CPU training steps of the built-in CNNs at 32 and
        # 64 px (benchmarks/classify_speedups.py); batches follow in on_after_batch_transfer
        self.model = model.to(memory_format=torch.channels_last)
        self.num_classes, self.config = num_classes, config
        # per-class loss weights (``--balance``); not saved: the run's data gives them again on resume
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.val_balanced_acc = MulticlassAccuracy(num_classes=num_classes, average="macro")  # mean recall
        self.batch_mix = _batch_mix(config, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Every image batch (also FixMatch's) in channels_last memory format, as the model's weights."""
        return apply_to_collection(batch, torch.Tensor, _channels_last)

    def mix(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """MixUp/CutMix the batch when enabled: ``(images, soft targets)``, else unchanged."""
        if self.batch_mix is None:
            return images, labels
        return self.batch_mix(images, labels)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = self.mix(*batch)
        logits = self.model(images)
        loss = F.cross_entropy(logits, targets, weight=self.class_weights, label_smoothing=self.config.label_smoothing)
        hard = targets.argmax(1) if targets.ndim == 2 else targets
        acc = (logits.argmax(1) == hard).float().mean()
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train_acc", acc, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        logits = self.model(images)
        self.log("val_loss", F.cross_entropy(logits, labels), on_epoch=True, sync_dist=True)
        self.log("val_acc", (logits.argmax(1) == labels).float().mean(), prog_bar=True, on_epoch=True, sync_dist=True)
        self.val_balanced_acc.update(logits, labels)
        self.log("val_balanced_acc", self.val_balanced_acc, on_epoch=True)

    def on_train_epoch_start(self) -> None:
        if self.config.freeze_backbone:  # Lightning's train() each epoch would update the BatchNorm statistics
            backbone_norms_eval(self.model)

    def configure_optimizers(self) -> dict:
        cfg = self.config
        groups = parameter_groups(self.model, cfg.lr, cfg.weight_decay, backbone_lr_scale(cfg))
        if cfg.optimizer == "sgd":
            optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
        else:
            optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
        total = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1))
        scheduler = warmup_cosine(optimizer, total, int(cfg.warmup_epochs * steps_per_epoch),
                                  clock=self._budget_clock())
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _budget_clock(self) -> Callable[[], float] | None:
        """The share of ``--max-minutes`` spent (``BUDGET_SHARE`` of it: the planned epochs' part), so the
        learning rate decays by the clock when the machine turns slower than the plan timed it; a run cut
        by the limit then ends with its decay done. One process only: every rank must use the same rate."""
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)
        if not self.config.max_minutes or timer is None or self.trainer.world_size > 1:
            return None
        seconds = self.config.max_minutes * 60 * BUDGET_SHARE
        return lambda: timer.time_elapsed("train") / seconds


def _channels_last(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.contiguous(memory_format=torch.channels_last) if tensor.ndim == 4 else tensor


def _batch_mix(config: TrainConfig, num_classes: int) -> v2.Transform | None:
    mixes: list[v2.Transform] = []
    if config.mixup > 0:
        mixes.append(v2.MixUp(alpha=config.mixup, num_classes=num_classes))
    if config.cutmix > 0:
        mixes.append(v2.CutMix(alpha=config.cutmix, num_classes=num_classes))
    if not mixes:
        return None
    return mixes[0] if len(mixes) == 1 else v2.RandomChoice(mixes)
