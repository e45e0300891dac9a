"""WebDataset shards: written with a manifest and class map, read back from a path or an fsspec URL,
every training image once per epoch across (simulated) DDP ranks and loader workers."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import fsspec
import pytest
from torch.utils.data import DataLoader

from sightkit.data.shard_dataset import EpochLoader, ShardDataset, held_out_splits, read_shard
from sightkit.data.shards import read_manifest, write_shards
from sightkit.errors import ConfigError, DataError


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _files(root: Path) -> Counter:
    return Counter(_digest(p.read_bytes()) for p in root.rglob("*.png"))


@pytest.fixture
def shards(tmp_path: Path, dataset_writer) -> tuple[Path, Path]:
    data = dataset_writer(tmp_path / "data", per_class=50, size=8, classes=("dark", "bright", "stripes"))
    write_shards(data, tmp_path / "shards", shard_size=16, val_fraction=0.2, seed=0)
    return data, tmp_path / "shards"


def test_shards_hold_every_image_once_with_manifest_and_class_map(shards):
    data, out = shards
    manifest = json.loads((out / "manifest.json").read_text())
    assert json.loads((out / "classes.json").read_text()) == {"0": "bright", "1": "dark", "2": "stripes"}
    assert manifest["splits"]["train"]["images"] == 120 and manifest["splits"]["val"]["images"] == 30
    assert manifest["splits"]["train"]["class_counts"] == [40, 40, 40]
    assert [s["images"] for s in manifest["splits"]["train"]["shards"]] == [16] * 7 + [8]
    read = read_manifest(out)
    payloads = Counter(_digest(p) for split in ("train", "val") for url in read.urls(split)
                       for _, _, p, _ in read_shard(url))
    assert payloads == _files(data)
    first_shard = [label for *_, label in read_shard(read.urls("train")[0])]
    assert len(set(first_shard)) == 3  # training images are shuffled before sharding: shards mix the classes


@pytest.mark.parametrize("workers", [0, 2])
def test_every_training_image_once_per_epoch_across_two_ranks(shards, workers: int):
    data, out = shards
    manifest = read_manifest(out)
    expected = Counter(_digest(p) for url in manifest.urls("train") for _, _, p, _ in read_shard(url))
    orders = []
    for epoch in (0, 1):
        seen: Counter = Counter()
        lengths = []
        for rank in (0, 1):
            dataset = ShardDataset(manifest, "train", _digest, batch_size=4, seed=7, shuffle_buffer=8, rank=rank,
                                   world=2)
            loader = EpochLoader(dataset, batch_size=4, num_workers=workers, start_epoch=epoch)
            batches = [digests for digests, _ in loader]
            assert all(len(b) == 4 for b in batches)
            lengths.append(len(batches))
            seen.update(d for batch in batches for d in batch)
            orders.append(dataset.order())
        assert lengths == [len(loader)] * 2 == [15, 15]  # 120 images / 2 ranks / batch 4: the same on each rank
        assert seen == expected  # each image exactly once (120 = 2 ranks x 15 batches x 4)
    assert orders[0] == orders[1] and orders[0] != orders[2]  # one shard order per epoch, shared by the ranks


def test_a_rank_reads_an_equal_contiguous_part_and_drops_only_a_short_tail(shards):
    _, out = shards
    parts = [ShardDataset(read_manifest(out), "train", _digest, batch_size=7, rank=r, world=3).part(r) for r in range(3)]
    assert parts == [(0, 35), (40, 75), (80, 115)]  # 40 per rank, 5 whole batches of 7; 15 of 120 wait an epoch


def test_shards_read_through_an_fsspec_url(shards):
    _, out = shards
    memory = fsspec.filesystem("memory")
    for path in out.iterdir():
        memory.pipe(f"/shards/{path.name}", path.read_bytes())
    manifest = read_manifest("memory://shards")
    assert manifest.images("train") == 120
    dataset = ShardDataset(manifest, "train", _digest, batch_size=1)
    assert len(list(dataset)) == 120


def test_held_out_splits_become_files(shards, tmp_path: Path):
    _, out = shards
    splits = held_out_splits(read_manifest(out), tmp_path / "heldout")
    assert splits.train == [] and len(splits.val) == 30 and splits.test == []
    assert all(s.path.is_file() for s in splits.val)


def test_unreadable_images_are_left_out_and_listed(tmp_path: Path, dataset_writer):
    data = dataset_writer(tmp_path / "data", per_class=6, size=8)
    (data / "dark" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    manifest = write_shards(data, tmp_path / "shards", shard_size=100)
    images = sum(info["images"] for info in manifest["splits"].values())
    assert images + len(manifest["skipped"]) == 13
    assert any("broken.png" in s["path"] for s in manifest["skipped"])


def test_refusals_leave_nothing_behind(tmp_path: Path, shards):
    data, out = shards
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        write_shards(data, out)
    with pytest.raises(DataError, match="not found"):
        write_shards(tmp_path / "nothing", tmp_path / "new")
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".new.partial-*"))
    with pytest.raises(DataError, match="no readable manifest.json"):
        read_manifest(tmp_path / "data")


def test_cli_shard_then_train_from_the_shards(cli, tmp_path: Path, dataset_writer):
    data = dataset_writer(tmp_path / "data", per_class=20, size=8)
    code, out, err = cli("data", "shard", data, tmp_path / "shards", "--shard-size", "10")
    assert code == 0, err
    assert out.splitlines()[0] == "train: 32 images in 4 shards"
    code, out, err = cli("classify", "train", tmp_path / "shards", "--model", "skcnn_tiny", "--epochs", "1",
                         "--batch-size", "8", "--out", tmp_path / "run", "--no-progress", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 8 and result["split"] == "val"
    code, _, err = cli("classify", "train", data, "--shards", "memory://x")
    assert code == 2 and "not both" in err


def test_a_dataloader_over_a_shard_dataset_needs_no_sampler(shards):
    _, out = shards
    loader = DataLoader(ShardDataset(read_manifest(out), "train", _digest, batch_size=8), batch_size=8)
    assert len(loader) == 15 and sum(len(b[0]) for b in loader) == 120
