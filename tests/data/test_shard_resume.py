"""A run that resumes from shards reads each later epoch in the order the uninterrupted run read it.

The shard order and the shuffle of an epoch are seeded by the epoch's number; Lightning restores that
number from the checkpoint and hands it to :class:`EpochLoader` through ``set_epoch``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch

from sightkit.data.shard_dataset import EpochLoader, ShardDataset
from sightkit.data.shards import read_manifest, write_shards


def _key(payload: bytes) -> int:
    """Stands in for decoding: a number that tells the images apart."""
    return int(hashlib.sha256(payload).hexdigest()[:12], 16)


class _Recorder(pl.LightningModule):
    """Records the images of each training batch by epoch; learns nothing that matters."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[int, list[int]] = {}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        keys, _ = batch
        self.seen.setdefault(self.current_epoch, []).extend(keys.tolist())
        return (self.weight - 1.0).pow(2)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.fixture
def manifest(tmp_path: Path, dataset_writer):
    data = dataset_writer(tmp_path / "data", per_class=12, size=8, classes=("dark", "bright"))
    write_shards(data, tmp_path / "shards", shard_size=4, val_fraction=0.2, seed=0)
    return read_manifest(tmp_path / "shards")


def _fit(manifest, run_dir: Path, epochs: int, resume: bool = False) -> dict[int, list[int]]:
    dataset = ShardDataset(manifest, "train", _key, batch_size=4, seed=3, shuffle_buffer=6)
    module = _Recorder()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=run_dir,
                         callbacks=[pl.callbacks.ModelCheckpoint(dirpath=run_dir, filename="last")])
    ckpt = run_dir / "last.ckpt" if resume else None
    trainer.fit(module, EpochLoader(dataset, batch_size=4), ckpt_path=ckpt)
    return module.seen


def test_a_resumed_run_reads_the_next_epoch_in_the_uninterrupted_order(manifest, tmp_path: Path):
    straight = _fit(manifest, tmp_path / "straight", epochs=3)
    assert straight[0] != straight[2]  # epochs differ, so reading epoch 0's order again would show
    first = _fit(manifest, tmp_path / "resumed", epochs=2)
    assert first == {0: straight[0], 1: straight[1]}
    resumed = _fit(manifest, tmp_path / "resumed", epochs=3, resume=True)
    assert list(resumed) == [2] and resumed[2] == straight[2]


def test_lightning_set_epoch_reaches_the_dataset(manifest):
    loader = EpochLoader(ShardDataset(manifest, "train", _key, batch_size=4), batch_size=4)
    batches = iter(loader)  # Lightning makes the first iterator before it sets the epoch
    _set_sampler_epoch(loader, 5)
    next(batches)
    assert loader.dataset.epoch == 5 and loader.next_epoch == 6
    assert sum(len(keys) for keys, _ in loader) == len(loader.dataset)  # a plain loop counts on from there
    assert loader.dataset.epoch == 6
