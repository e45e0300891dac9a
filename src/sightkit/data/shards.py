"""WebDataset tar shards of a labelled dataset, with a JSON manifest and class map, on any fsspec file system.

``write_shards`` reads a dataset the way training does (:func:`~sightkit.data.discover.discover`:
folder per class, split folders or CSV manifest, stratified seeded splits), checks that every
image decodes, and writes ``<split>-NNNNNN.tar`` shards of ``shard_size`` images each. Every
sample keeps the original file's bytes (``png``/``jpg``/... field), its class index (``cls``)
and its path relative to the dataset (``path.txt``). Training images are shuffled before they
are cut into shards, so each shard mixes the classes. Beside the shards:

* ``manifest.json`` - format, classes, colour, per split the images per class, the shard names and how many
  images each holds;
* ``classes.json`` - the class map ``{"0": name, ...}``.

A shard folder is read from a local path or any fsspec URL (``s3://``, ``gs://``, ``https://``;
S3 needs the ``s3`` extra) by :func:`read_manifest` and
:class:`~sightkit.data.shard_dataset.ShardDataset`.

Example:
    >>> manifest = write_shards("data/flowers", "shards/flowers", shard_size=1000)  # doctest: +SKIP
    >>> read_manifest("s3://bucket/shards/flowers").images("train")  # doctest: +SKIP
    2936
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sightkit.core.fileio import atomic_write_text
from sightkit.core.images import load_image, peek
from sightkit.data.discover import SPLIT_NAMES, Sample, discover
from sightkit.errors import ConfigError, DataError, ImageError

FORMAT = "sightkit-shards"
VERSION = 1
MANIFEST = "manifest.json"
CLASS_MAP = "classes.json"


@dataclass(frozen=True)
class ShardManifest:
    """What a shard folder holds: where it is, its classes and, per split, its shards and their image counts."""

    root: str
    classes: list[str]
    grayscale: bool
    splits: dict[str, list[tuple[str, int]]]
    median_side: int
    class_counts: dict[str, list[int]]

    def urls(self, split: str) -> list[str]:
        """The full path or URL of every shard of ``split``, in manifest order."""
        return [f"{self.root.rstrip('/')}/{name}" for name, _ in self.splits.get(split, [])]

    def counts(self, split: str) -> list[int]:
        """Images per shard of ``split``, in manifest order."""
        return [count for _, count in self.splits.get(split, [])]

    def images(self, split: str) -> int:
        """Images in ``split`` (0 when the dataset has no such split)."""
        return sum(self.counts(split))

    def summary(self) -> dict[str, int]:
        """Counts per split, like :meth:`DatasetSplits.summary`."""
        return {"classes": len(self.classes), **{s: self.images(s) for s in SPLIT_NAMES}, "skipped": 0}


def is_shard_source(data: str | Path) -> bool:
    """True for a URL (``scheme://...``) or a local folder holding a shard ``manifest.json``.

    Example:
        >>> is_shard_source("s3://bucket/shards"), is_shard_source("data/flowers")
        (True, False)
    """
    return "://" in str(data) or (Path(data) / MANIFEST).is_file()


def read_manifest(source: str | Path) -> ShardManifest:
    """Read ``manifest.json`` of a shard folder (local path or fsspec URL); a clear error when it is not one.

    Example:
        >>> read_manifest("shards/flowers").classes  # doctest: +SKIP
        ['daisy', 'rose', 'tulip']
    """
    import fsspec

    root = str(source).rstrip("/")
    try:
        with fsspec.open(f"{root}/{MANIFEST}", "rt", encoding="utf-8") as handle:
            raw = json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise DataError(f"{root}: no readable {MANIFEST}; write shards with 'sightkit data shard DATA OUT'") from exc
    except ImportError as exc:  # fsspec names the missing package, e.g. s3fs
        raise DataError(f"{root}: {exc} (for s3:// install sightkit[s3])") from exc
    if raw.get("format") != FORMAT or raw.get("version", 0) > VERSION:
        raise DataError(f"{root}/{MANIFEST}: not a {FORMAT} manifest of version <= {VERSION}")
    splits = {name: [(s["name"], int(s["images"])) for s in info["shards"]] for name, info in raw["splits"].items()}
    class_counts = {name: list(info["class_counts"]) for name, info in raw["splits"].items()}
    return ShardManifest(root, list(raw["classes"]), bool(raw["grayscale"]), splits, int(raw["median_side"]),
                         class_counts)


def write_shards(data: str | Path, out: str | Path, shard_size: int = 1000, *, val_fraction: float = 0.2,
                 test_fraction: float = 0.0, seed: int = 0,
                 progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write the WebDataset shards of ``data`` into the new folder ``out``; return the manifest.

    Unreadable images are left out and listed under ``skipped``. The shards are written into a
    temporary folder beside ``out`` that is renamed at the end, so a failed run leaves nothing.

    Example:
        >>> m = write_shards("data/digits", "shards/digits", shard_size=500)  # doctest: +SKIP
        >>> [s["name"] for s in m["splits"]["train"]["shards"]]  # doctest: +SKIP
        ['train-000000.tar', 'train-000001.tar', 'train-000002.tar']
    """
    if shard_size < 1:
        raise ConfigError(f"--shard-size {shard_size}: must be at least 1")
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"OUT {target}: already exists and is not empty; choose a new folder")
    splits = discover(data, val_fraction, test_fraction, seed)
    base = Path(data) if Path(data).is_dir() else Path(data).parent
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    try:
        skipped = [{"path": str(p), "reason": r} for p, r in splits.skipped]
        manifest_splits = {}
        for name in SPLIT_NAMES:
            samples = list(getattr(splits, name))
            if name == "train":
                random.Random(seed).shuffle(samples)
            shards, bad = _write_split(work, name, samples, base, shard_size, progress)
            skipped += bad
            if shards:
                written = {s.path for s in samples} - {Path(b["path"]) for b in bad}
                per_class = Counter(s.label for s in samples if s.path in written)
                counts = [per_class[c] for c in range(len(splits.classes))]
                manifest_splits[name] = {"images": sum(s["images"] for s in shards), "class_counts": counts,
                                         "shards": shards}
        sides = [min(peek(s.path)[:2]) for s in splits.train[:: max(1, len(splits.train) // 200)]]
        manifest = {"format": FORMAT, "version": VERSION, "source": str(Path(data).resolve()),
                    "classes": splits.classes, "grayscale": splits.grayscale, "shard_size": shard_size,
                    "seed": seed, "val_fraction": val_fraction, "test_fraction": test_fraction,
                    "median_side": int(statistics.median(sides)), "splits": manifest_splits, "skipped": skipped}
        atomic_write_text(work / CLASS_MAP, json.dumps({str(i): c for i, c in enumerate(splits.classes)}, indent=2))
        atomic_write_text(work / MANIFEST, json.dumps(manifest, indent=2))
        if target.exists():
            target.rmdir()  # empty, checked above
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _write_split(folder: Path, split: str, samples: list[Sample], base: Path, shard_size: int,
                 progress: Callable[[int], None] | None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Write the shards of one split; return ``[{"name", "images"}]`` and the images left out as unreadable."""
    import webdataset as wds

    shards: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    writer = None
    try:
        for index, (sample, payload) in enumerate(_readable(samples, skipped, progress)):
            if index % shard_size == 0:
                if writer is not None:
                    writer.close()
                shards.append({"name": f"{split}-{index // shard_size:06d}.tar", "images": 0})
                writer = wds.TarWriter(str(folder / shards[-1]["name"]))
            writer.write({"__key__": f"{index:09d}", _field(sample.path): payload, "cls": sample.label,
                          "path.txt": _relative(sample.path, base)})
            shards[-1]["images"] += 1
    finally:
        if writer is not None:
            writer.close()
    return shards, skipped


def _readable(samples: list[Sample], skipped: list[dict[str, str]],
              progress: Callable[[int], None] | None) -> Iterator[tuple[Sample, bytes]]:
    """The samples whose bytes decode as an image, with those bytes; the others go to ``skipped``."""
    for sample in samples:
        payload = sample.path.read_bytes()
        try:
            load_image(payload, None)
        except ImageError as exc:
            skipped.append({"path": str(sample.path), "reason": str(exc)})
        else:
            yield sample, payload
        if progress is not None:
            progress(1)


def _field(path: Path) -> str:
    """The sample field of an image file: its lower-case extension (``jpeg`` stays ``jpeg``)."""
    return path.suffix.lower().lstrip(".") or "img"


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
