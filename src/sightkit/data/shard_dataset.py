"""Stream a split of WebDataset shards for training: shuffled across shards, each image once per epoch and rank.

Every epoch the shards are put in a new order (the same on every process: seeded with the epoch).
Read in that order they form one stream of ``n`` images; process ``rank`` of ``world`` takes the
``rank``-th of ``world`` equal contiguous parts of it, and inside a process each DataLoader worker
takes whole batches of that part. So an epoch gives every process the same number of batches (DDP
needs that), each image goes to at most one process, a process opens only the shards its part
touches, and at most ``world * batch_size - 1`` images (the tail of the last shard of that
epoch's order, a different one each epoch) wait for a later epoch. Within a worker a
shuffle buffer mixes the images of neighbouring shards.

Shards are opened with fsspec, so any URL fsspec knows works (``s3://`` with the ``s3`` extra).

Example:
    >>> ds = ShardDataset(read_manifest("shards/digits"), "train", decode, batch_size=64)  # doctest: +SKIP
    >>> loader = EpochLoader(ds, batch_size=64, num_workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, Sampler, get_worker_info

from sightkit.core.images import load_image
from sightkit.data.discover import DatasetSplits, Sample
from sightkit.data.shards import ShardManifest
from sightkit.data.transforms import to_model_size
from sightkit.errors import DataError, ImageError

DEFAULT_SHUFFLE_BUFFER = 1000
_IMAGE_FIELDS = ("png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp", "ppm", "pgm", "dcm", "img")


class ShardDataset(IterableDataset):
    """``(decoded item, label)`` pairs from the shards of one split, split over DDP ranks and loader workers.

    ``decode(image bytes)`` gives the item (e.g. an augmented tensor). ``rank``/``world``
    default to those of the running process group (0 and 1 without one); tests pass them to
    simulate ranks. Call :meth:`set_epoch` before each epoch (:class:`EpochLoader` does).
    """

    def __init__(self, manifest: ShardManifest, split: str, decode: Callable[[bytes], Any], *, batch_size: int = 1,
                 seed: int = 0, shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER, rank: int | None = None,
                 world: int | None = None) -> None:
        self.urls, self.counts = manifest.urls(split), manifest.counts(split)
        if not self.urls:
            raise DataError(f"{manifest.root}: no {split} shards")
        self.decode, self.batch_size, self.seed, self.shuffle_buffer = decode, batch_size, seed, shuffle_buffer
        self._rank, self._world, self.epoch = rank, world, 0
        self.skipped: list[tuple[str, str]] = []  # unreadable images were left out when the shards were written
        counts = manifest.class_counts.get(split, [0] * len(manifest.classes))
        self.labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))  # for class weights

    def set_epoch(self, epoch: int) -> None:
        """Choose the shard order (and shuffle) of ``epoch``; the same epoch gives the same order.

        Called in the main process, it also fixes the rank and world size for the loader workers
        (a worker started with ``spawn`` has no process group of its own).
        """
        self.epoch = epoch
        self._rank, self._world = self._rank_now(), self._world_size()

    def __len__(self) -> int:
        """Images this process yields per epoch (whole batches of its equal part)."""
        per_rank = sum(self.counts) // self._world_size()
        return per_rank // self.batch_size * self.batch_size

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        worker = get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker is not None else (1, 0)
        rank = self._rank_now()
        start, stop = self.part(rank, worker_id, workers)
        rng = random.Random(f"{self.seed}/{self.epoch}/{rank}/{worker_id}")
        yield from _shuffled(self._read(start, stop), self.shuffle_buffer, rng)

    def part(self, rank: int, worker: int = 0, workers: int = 1) -> tuple[int, int]:
        """The ``[start, stop)`` range of this epoch's stream that ``worker`` of ``rank`` reads.

        Example:
            >>> ds.part(rank=1, worker=0, workers=2)  # doctest: +SKIP
            (500, 750)
        """
        length = len(self)
        batches = length // self.batch_size
        first, last = batches * worker // workers, batches * (worker + 1) // workers
        base = rank * (sum(self.counts) // self._world_size())
        return base + first * self.batch_size, base + last * self.batch_size

    def order(self) -> list[int]:
        """This epoch's shard order (indices into the manifest's list), the same on every process."""
        order = list(range(len(self.urls)))
        random.Random(f"{self.seed}/{self.epoch}").shuffle(order)
        return order

    def _read(self, start: int, stop: int) -> Iterator[tuple[Any, int]]:
        offset = 0
        for shard in self.order():
            count = self.counts[shard]
            if offset + count > start and offset < stop:
                skip, take = max(0, start - offset), min(count, stop - offset)
                for position, (key, _, payload, label) in enumerate(read_shard(self.urls[shard])):
                    if position >= take:
                        break
                    if position >= skip:
                        yield self._decoded(key, payload), label
            offset += count
            if offset >= stop:
                return

    def _decoded(self, key: str, payload: bytes) -> Any:
        try:
            return self.decode(payload)
        except ImageError as exc:  # shards are checked when written: this is damage since then
            raise DataError(f"shard sample {key}: {exc}") from exc

    def _world_size(self) -> int:
        if self._world is not None:
            return self._world
        return torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1

    def _rank_now(self) -> int:
        if self._rank is not None:
            return self._rank
        return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


class EpochLoader(DataLoader):
    """A DataLoader that tells its :class:`ShardDataset` the epoch before each pass (workers get a copy then).

    Without a trainer the epochs count from ``start_epoch``, one per pass. Lightning calls
    ``set_epoch`` on a loader's sampler before every epoch with the epoch it is at, restored from
    the checkpoint when a run resumes; this loader's (batch) sampler takes it, so a run resumed
    at epoch ``e`` reads the shards in epoch ``e``'s order, as the uninterrupted run did.
    Lightning asks for the first epoch's iterator before it calls ``set_epoch``, so a pass starts
    (fixes its epoch and starts its workers) at its first batch, not when its iterator is made.

    Example:
        >>> loader = EpochLoader(ShardDataset(manifest, "train", decode, batch_size=32), batch_size=32)  # doctest: +SKIP
    """

    def __init__(self, dataset: ShardDataset, *args: Any, start_epoch: int = 0, **kwargs: Any) -> None:
        super().__init__(dataset, *args, **kwargs)
        self.next_epoch = start_epoch
        if self.batch_sampler is not None:  # where Lightning looks for set_epoch (the sampler itself is fixed)
            self.batch_sampler.sampler = _EpochSignal(self)

    def __iter__(self) -> Iterator[Any]:
        return _EpochPass(self)

    def start_pass(self) -> Iterator[Any]:
        """Fix the epoch of the next pass in the dataset and start it (DataLoader's own iterator)."""
        self.dataset.set_epoch(self.next_epoch)
        self.next_epoch += 1
        return super().__iter__()


class _EpochPass:
    """One pass of an :class:`EpochLoader`, started at its first batch."""

    def __init__(self, loader: EpochLoader) -> None:
        self.loader = loader
        self._batches: Iterator[Any] | None = None

    def __iter__(self) -> _EpochPass:
        return self

    def __next__(self) -> Any:
        if self._batches is None:
            self._batches = self.loader.start_pass()
        return next(self._batches)


class _EpochSignal(Sampler):
    """The endless sampler of an iterable dataset, plus the ``set_epoch`` that Lightning calls."""

    def __init__(self, loader: EpochLoader) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None

    def set_epoch(self, epoch: int) -> None:
        """The next pass of the loader is epoch ``epoch``."""
        self.loader.next_epoch = epoch


def read_shard(url: str) -> Iterator[tuple[str, str, bytes, int]]:
    """``(key, image field, image bytes, class index)`` of every sample of one shard, in order (fsspec opens ``url``).

    Example:
        >>> next(read_shard("shards/digits/train-000000.tar"))[0]  # doctest: +SKIP
        '000000000'
    """
    import fsspec
    from webdataset.tariterators import group_by_keys, tar_file_expander

    try:
        with fsspec.open(url, "rb") as stream:
            for sample in group_by_keys(tar_file_expander([{"url": url, "stream": stream}])):
                field = next((f for f in _IMAGE_FIELDS if f in sample), None)
                if field is None or "cls" not in sample:
                    raise DataError(f"{url}: sample {sample.get('__key__')} has no image or no cls field")
                yield sample["__key__"], field, sample[field], int(sample["cls"])
    except FileNotFoundError as exc:
        raise DataError(f"{url}: shard not found ({exc})") from exc


def extract_split(manifest: ShardManifest, split: str, folder: Path) -> list[Sample]:
    """Write the images of ``split`` as files under ``folder`` (``<key>.<ext>``) and return them as samples.

    Used for the held-out splits, which evaluation and calibration read as files.

    Example:
        >>> extract_split(read_manifest("s3://b/shards"), "val", Path("runs/x/heldout/val"))[0]  # doctest: +SKIP
        Sample(path=PosixPath('runs/x/heldout/val/000000000.png'), label=3)
    """
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for url in manifest.urls(split):
        for key, field, payload, label in read_shard(url):
            path = folder / f"{key}.{field}"
            path.write_bytes(payload)
            samples.append(Sample(path, label))
    return samples


def _shuffled(items: Iterator[Any], buffer: int, rng: random.Random) -> Iterator[Any]:
    """Items in a random order drawn from a buffer of ``buffer`` items (all of them, whatever the buffer)."""
    pool: list[Any] = []
    for item in items:
        pool.append(item)
        if len(pool) >= buffer:
            yield pool.pop(rng.randrange(len(pool)))
    rng.shuffle(pool)
    yield from pool


class DecodeBytes:
    """Image bytes -> ``transform(uint8 tensor at the model's size)``; picklable, for loader workers.

    Example:
        >>> decode = DecodeBytes("L", 28, build_eval_transform([0.5], [0.25]))  # doctest: +SKIP
        >>> decode(png_bytes).shape  # doctest: +SKIP
        torch.Size([1, 28, 28])
    """

    def __init__(self, mode: str, size: int, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.mode, self.size, self.transform = mode, size, transform

    def __call__(self, payload: bytes) -> torch.Tensor:
        return self.transform(to_model_size(load_image(payload, self.mode), self.size))


def held_out_splits(manifest: ShardManifest, folder: Path) -> DatasetSplits:
    """The splits of a shard dataset for training: ``train`` empty (it is streamed), val/test as files in ``folder``.

    Example:
        >>> held_out_splits(read_manifest("shards/digits"), Path("runs/x/heldout")).summary()  # doctest: +SKIP
        {'classes': 10, 'train': 0, 'val': 359, 'test': 0, 'skipped': 0}
    """
    held_out = {split: extract_split(manifest, split, folder / split) if manifest.images(split) else []
                for split in ("val", "test")}
    return DatasetSplits(folder, list(manifest.classes), [], held_out["val"], held_out["test"],
                         grayscale=manifest.grayscale)
