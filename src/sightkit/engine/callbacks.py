"""Lightning callbacks shared by sightkit trainers."""

from __future__ import annotations

import time

import lightning.pytorch as pl
import torch


class Throughput(pl.Callback):
    """Logs the training images/s of each epoch as ``img_per_s`` (also shown in the progress bar), all ranks together.

    Timed from the start of the epoch to the end of its last training batch, so the
    validation run and checkpointing at the end of the epoch are not counted.
    """

    def __init__(self) -> None:
        self._start = 0.0
        self._elapsed = 0.0
        self._images = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start, self._elapsed, self._images = time.perf_counter(), 0.0, 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: object,
                           batch: object, batch_idx: int) -> None:
        self._images += _images_in(batch)
        self._elapsed = time.perf_counter() - self._start

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._elapsed > 0 and self._images:
            # summed over the processes of a DDP run: the run's images/s
            pl_module.log("img_per_s", self._images / self._elapsed, prog_bar=True, reduce_fx="sum", sync_dist=True)


def _images_in(batch: object) -> int:
    """Images in a training batch: ``(images, labels)``, a bare image tensor (inpainting), or a dict of such
    batches (FixMatch's labelled and unlabelled parts; an unlabelled image counts once, though the model sees
    two views of it)."""
    if isinstance(batch, torch.Tensor):
        return len(batch)
    parts = batch.values() if isinstance(batch, dict) else [batch]
    return sum(len(part[0]) for part in parts)  # type: ignore[index]
