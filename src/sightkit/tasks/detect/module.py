"""The Lightning module that trains a torchvision detector: summed losses, validation mAP.

Training steps sum the detector's own losses (classification, box regression, and
centerness / objectness where the architecture has them) and log ``train_loss``; each
validation epoch computes COCO mAP on the held-out images and logs ``val_map`` and
``val_map_50`` (the value the best checkpoint is chosen by).

Example:
    >>> module = DetectModule(build_detector("fcos_resnet18", 3, 128), config, num_classes=3)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from sightkit.engine.schedule import warmup_cosine
from sightkit.tasks.detect.config import DetectConfig
from sightkit.tasks.detect.metrics import detection_metric, metric_prediction, metric_target
from sightkit.tasks.detect.model import set_thresholds

VAL_SCORE_THRESHOLD = 0.05  # COCO evaluations keep low-scoring detections: they extend the PR curve
VAL_NMS_THRESHOLD = 0.5
GRADIENT_CLIP = 10.0  # from-scratch detectors spike early; clipping keeps the first epochs stable


def clock_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                 budgets: list[tuple[Callable[[], float], float]], min_ratio: float = 0.01) -> LambdaLR:
    """Warm-up, then cosine decay by whichever is furthest along: the steps or a clock of its budget.

    ``budgets`` pairs a clock (``time.perf_counter`` for wall time, ``time.process_time`` for
    this process's CPU time) with its seconds. A run limited by ``--max-minutes`` or
    ``--max-cpu-minutes`` thus ends at a low learning rate even when it stops long before its
    last epoch (the clocks restart when a run is resumed).

    Example:
        >>> scheduler = clock_cosine(optimizer, 10_000, 100, [(time.perf_counter, 900.0)])  # doctest: +SKIP
    """
    starts = [(clock, clock(), seconds) for clock, seconds in budgets]

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = max([(step - warmup_steps) / max(1, total_steps - warmup_steps)]
                       + [(clock() - start) / seconds for clock, start, seconds in starts])
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return LambdaLR(optimizer, factor)


class DetectModule(pl.LightningModule):
    """Research side of detection training; the engine's Trainer owns devices, checkpoints and logs."""

    def __init__(self, model: nn.Module, config: DetectConfig, num_classes: int) -> None:
        super().__init__()
        self.model, self.config, self.num_classes = model, config, num_classes
        set_thresholds(model, VAL_SCORE_THRESHOLD, VAL_NMS_THRESHOLD)
        self._metric: Any = None
        self.cpu_limit_reached = False
        self._cpu_start = 0.0

    def on_fit_start(self) -> None:
        self._cpu_start = time.process_time()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        limit = self.config.max_cpu_minutes
        if limit is None:
            return
        reached = time.process_time() - self._cpu_start >= limit * 60
        # Under DDP every process must stop after the same batch: the first to reach its limit stops all.
        if self.trainer.strategy.reduce_boolean_decision(reached, all=False):
            self.cpu_limit_reached = True
            self.trainer.should_stop = True

    def training_step(self, batch: tuple[list, list], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        losses = self.model(images, targets)
        loss = sum(losses.values())
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(images), sync_dist=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._metric = detection_metric()

    def validation_step(self, batch: tuple[list, list], batch_idx: int) -> None:
        images, targets = batch
        outputs = self.model(images)
        self._metric.update([metric_prediction(o) for o in outputs],
                            [metric_target(t, self.num_classes) for t in targets])

    def on_validation_epoch_end(self) -> None:
        result = self._metric.compute()  # under DDP torchmetrics gathers every process's images first
        self.log("val_map", max(0.0, float(result["map"])), prog_bar=False)
        self.log("val_map_50", max(0.0, float(result["map_50"])), prog_bar=True)
        self._metric = None

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), GRADIENT_CLIP)

    def configure_optimizers(self) -> dict:
        decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim <= 1]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": self.config.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=self.config.lr)
        total = int(self.trainer.estimated_stepping_batches)
        budgets = [(clock, minutes * 60) for clock, minutes in ((time.perf_counter, self.config.max_minutes),
                                                                  (time.process_time, self.config.max_cpu_minutes))
                   if minutes is not None]
        scheduler = clock_cosine(optimizer, total, self.config.warmup_steps, budgets) if budgets else \
            warmup_cosine(optimizer, total, self.config.warmup_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
