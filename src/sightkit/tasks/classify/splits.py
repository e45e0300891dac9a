"""The train / val / test splits a classifier bundle was trained with, and its training images.

A bundle trained by sightkit carries ``dataset.json``: the dataset's folder (or manifest)
and, per split, each file (relative to that folder), its class and a short fingerprint of
its bytes. From it, :func:`recorded_split` gives back the exact files of a split, and
:func:`training_fingerprints` the images the model learned from, so that evaluation can
refuse to score them. Bundles without the file (older ones, or made by other tools) fall
back to rediscovering the splits from the recorded data path, fractions and seed, which
gives the same files as long as the dataset has not changed.

Example:
    >>> pairs = recorded_split("runs/x/model", "val")  # doctest: +SKIP
    >>> pairs[:1]                                       # doctest: +SKIP
    [(PosixPath('/data/flowers/rose/0001.jpg'), 'rose')]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sightkit.data.discover import DatasetSplits, discover
from sightkit.errors import ConfigError, SightkitError

RECORD_FILE = "dataset.json"
SPLITS = ("train", "val", "test")
SPLIT_CHOICES = (*SPLITS, "all")
# 16 hex digits (64 bits) of SHA-256: collisions among a dataset's files are out of reach.
_FINGERPRINT_CHARS = 16

BundleRef = str | Path | Mapping[str, Any]
"""A bundle path (folder or ``.sightkit``), or its metadata (``bundle.json`` as a dict)."""


@dataclass
class DatasetRecord:
    """The dataset a bundle was trained on: its root and ``(file, class, fingerprint)`` per split."""

    root: Path
    files: dict[str, list[tuple[Path, str, str | None]]]

    def pairs(self, split: str) -> list[tuple[Path, str]]:
        """``(path, class name)`` of ``split`` (``all``: every split), files that still exist only."""
        names = SPLITS if split == "all" else (split,)
        return [(p, label) for name in names for p, label, _ in self.files.get(name, []) if p.is_file()]


def fingerprint(path: str | Path) -> str:
    """A short hash of a file's bytes: equal for copies of the same image, wherever they are.

    Example:
        >>> fingerprint("data/cat/001.jpg")  # doctest: +SKIP
        '3f2a9c0d1b7e4a55'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:_FINGERPRINT_CHARS]


def record_dataset(splits: DatasetSplits) -> bytes:
    """The ``dataset.json`` of a training run: root, and per split file, class and fingerprint.

    Example:
        >>> save_bundle(out, state, meta, extras={RECORD_FILE: record_dataset(splits)})  # doctest: +SKIP
    """
    root = splits.source.resolve()
    base = root if root.is_dir() else root.parent
    files = {name: [[_relative(s.path, base), splits.classes[s.label], fingerprint(s.path)]
                    for s in getattr(splits, name)] for name in SPLITS}
    return json.dumps({"root": str(root), "files": files}, separators=(",", ":")).encode("utf-8")


def recorded_split(bundle: BundleRef, name: str) -> list[tuple[Path, str]] | None:
    """The ``(path, class name)`` pairs of split ``name`` (train, val, test or all) of the bundle's training data.

    ``[]`` when the run had no such split (e.g. no test split); ``None`` when the training
    data cannot be found (moved, deleted, or a bundle that records no training data).

    Example:
        >>> recorded_split("runs/x/model", "val")[:1]  # doctest: +SKIP
        [(PosixPath('/data/flowers/rose/0001.jpg'), 'rose')]
        >>> recorded_split("model-from-elsewhere.sightkit", "test") is None  # doctest: +SKIP
        True
    """
    if name not in SPLIT_CHOICES:
        raise ConfigError(f"--split {name!r}: choose one of {', '.join(SPLIT_CHOICES)}")
    record = load_record(bundle)
    return record.pairs(name) if record is not None else None


def training_fingerprints(record: DatasetRecord) -> set[str]:
    """Fingerprints of the train split's images (hashed now when the record holds none)."""
    found = set()
    for path, _, recorded in record.files.get("train", []):
        if recorded is not None:
            found.add(recorded)
        elif path.is_file():
            found.add(fingerprint(path))
    return found


def load_record(bundle: BundleRef) -> DatasetRecord | None:
    """The bundle's :class:`DatasetRecord`: from ``dataset.json``, else rediscovered from ``bundle.json``.

    ``None`` when neither is possible (no training data recorded, or it is gone).
    """
    if not isinstance(bundle, Mapping):
        from sightkit.core.bundle import read_extra, read_meta

        raw = read_extra(bundle, RECORD_FILE)
        if raw is not None:
            return _parse_record(raw)
        bundle = read_meta(bundle)
    return _rediscover(bundle)


def _parse_record(raw: bytes) -> DatasetRecord | None:
    data = json.loads(raw)
    root = Path(data["root"])
    if not root.exists():
        return None
    base = root if root.is_dir() else root.parent
    files = {name: [(base / rel, label, fp) for rel, label, fp in data["files"].get(name, [])] for name in SPLITS}
    return DatasetRecord(root, files)


def _rediscover(meta: Mapping[str, Any]) -> DatasetRecord | None:
    training = meta.get("training") or {}
    config = training.get("config") or {}
    if not training.get("data") or not Path(training["data"]).exists():
        return None
    try:
        splits = discover(training["data"], config.get("val_fraction", 0.2), config.get("test_fraction", 0.0),
                          config.get("seed", 0))
    except SightkitError:  # the dataset changed so much it no longer reads as one
        return None
    files = {name: [(s.path.resolve(), splits.classes[s.label], None) for s in getattr(splits, name)]
             for name in SPLITS}
    return DatasetRecord(Path(training["data"]).resolve(), files)


def _relative(path: Path, base: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(base)) if resolved.is_relative_to(base) else str(resolved)
