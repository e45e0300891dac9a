"""Lightning callbacks shared by sightkit trainers."""

from __future__ import annotations

import time

import lightning.pytorch as pl


class Throughput(pl.Callback):
    """Shows training images/s in the progress bar and logs it per epoch as ``train_img_per_s``."""

    def __init__(self) -> None:
        self._start = 0.0
        self._images = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start, self._images = time.perf_counter(), 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: object,
                           batch: object, batch_idx: int) -> None:
        self._images += len(batch[0])  # type: ignore[index]

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        elapsed = time.perf_counter() - self._start
        if elapsed > 0 and self._images:
            pl_module.log("img_per_s", self._images / elapsed, prog_bar=True)
