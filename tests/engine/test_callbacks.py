"""Tests of the shared Lightning callbacks."""

from __future__ import annotations

import time

import torch

from sightkit.engine.callbacks import Throughput


class _Module:
    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log(self, name: str, value: float, **_: object) -> None:
        self.logged[name] = value


def test_throughput_counts_the_images_of_a_bare_tensor_batch() -> None:
    callback, module = Throughput(), _Module()
    callback.on_train_epoch_start(None, module)  # type: ignore[arg-type]
    callback.on_train_batch_end(None, module, None, torch.zeros(8, 3, 4, 4), 0)  # type: ignore[arg-type]
    assert callback._images == 8  # not the 3 channels of its first image


def test_throughput_counts_training_batches_only() -> None:
    callback, module = Throughput(), _Module()
    callback.on_train_epoch_start(None, module)  # type: ignore[arg-type]
    batch = (torch.zeros(8, 1, 4, 4), torch.zeros(8))
    for index in range(3):
        time.sleep(0.01)
        callback.on_train_batch_end(None, module, None, batch, index)  # type: ignore[arg-type]
    time.sleep(0.3)  # validation and checkpointing run here, before on_train_epoch_end
    callback.on_train_epoch_end(None, module)  # type: ignore[arg-type]
    assert 24 / 0.3 < module.logged["img_per_s"] <= 24 / 0.03
