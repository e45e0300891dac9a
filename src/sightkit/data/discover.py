"""Find the labelled images of a dataset and split them into train / val / test.

``DATA`` is one of:

* a folder with one subfolder per class (``data/cat/*.jpg``, ``data/dog/*.png``);
* a folder with ``train/`` (and optionally ``val/``, ``test/``) subfolders, each laid out
  per class; a missing ``val/`` is carved out of ``train/``;
* a CSV manifest with columns ``path,label`` and an optional ``split`` column
  (paths relative to the CSV's folder).

Splits are stratified per class with a fixed seed, so they are reproducible and disjoint.
Files whose header cannot be read, or whose size is under ``MIN_SIDE``, are skipped and listed
in ``skipped``, never a crash.

Example:
    >>> splits = discover("data/flowers", val_fraction=0.2, seed=0)  # doctest: +SKIP
    >>> splits.classes, len(splits.train), len(splits.val)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sightkit.core.images import MIN_SIDE, is_grayscale, is_image_file, peek
from sightkit.errors import DataError, ImageError

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    """One labelled image: its file and the index of its class."""

    path: Path
    label: int


@dataclass
class DatasetSplits:
    """The classes and the train / val / test samples of a dataset."""

    source: Path
    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    grayscale: bool = False

    def summary(self) -> dict[str, int]:
        """Counts per split, for logs and reports."""
        return {"classes": len(self.classes), "train": len(self.train), "val": len(self.val),
                "test": len(self.test), "skipped": len(self.skipped)}


def discover(data: str | Path, val_fraction: float = 0.2, test_fraction: float = 0.0,
             seed: int = 0) -> DatasetSplits:
    """Read ``data`` (folder or CSV manifest) and return reproducible, stratified splits."""
    root = Path(data)
    if not root.exists():
        raise DataError(f"DATA {root}: not found; give a folder with one subfolder per class or a CSV manifest")
    if not 0.0 <= val_fraction < 1.0 or not 0.0 <= test_fraction < 1.0 or val_fraction + test_fraction >= 1.0:
        raise DataError("--val-fraction and --test-fraction must be in [0, 1) and sum to less than 1")
    if root.is_file():
        by_split, skipped = _read_manifest(root)
    elif (root / "train").is_dir():
        by_split, skipped = {}, []
        for split in SPLIT_NAMES:
            if (root / split).is_dir():
                by_split[split], bad = _read_class_folders(root / split)
                skipped += bad
    else:
        samples, skipped = _read_class_folders(root)
        by_split = {"train": samples}
    classes = _check_classes(root, by_split.get("train", []))
    index = {name: i for i, name in enumerate(classes)}
    labelled = {split: [Sample(p, index[c]) for p, c in pairs if c in index] for split, pairs in by_split.items()}
    for split, pairs in by_split.items():
        unknown = sorted({c for _, c in pairs} - set(index))
        if unknown:
            raise DataError(f"DATA {root}: {split} has classes not in train: {', '.join(unknown)}")
    train = labelled["train"]
    test = labelled.get("test")
    if test is None:
        train, test = _stratified_split(train, test_fraction, seed) if test_fraction else (train, [])
    val = labelled.get("val")
    if val is None:
        fraction = val_fraction / (1.0 - test_fraction) if "test" not in labelled else val_fraction
        train, val = _stratified_split(train, fraction, seed + 1)
    all_paths = [s.path for s in train + val + test]
    return DatasetSplits(root, classes, train, val, test, skipped,
                         grayscale=bool(all_paths) and all(is_grayscale(p) for p in all_paths[:200]))


def read_labelled_images(data: str | Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """``(path, class name)`` pairs of a folder or manifest to evaluate on, plus skipped files.

    A folder with split subfolders contributes its ``test/`` (else ``val/``) split.
    """
    root = Path(data)
    if not root.exists():
        raise DataError(f"DATA {root}: not found")
    if root.is_file():
        by_split, skipped = _read_manifest(root)
        pairs = by_split.get("test") or by_split.get("val") or [p for v in by_split.values() for p in v]
        return pairs, skipped
    return _read_class_folders(evaluation_folder(root))


def evaluation_folder(data: str | Path) -> Path:
    """The folder :func:`read_labelled_images` reads: ``test/``, else ``val/``, else ``data`` itself.

    Example:
        >>> evaluation_folder("data/digits")  # doctest: +SKIP
        PosixPath('data/digits/test')
    """
    root = Path(data)
    for split in ("test", "val"):
        if (root / split).is_dir():
            return root / split
    return root


def _read_class_folders(root: Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"DATA {root}: no class subfolders; put each class's images in DATA/<class>/")
    pairs: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    for folder in folders:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p) and not p.name.startswith("."))
        good, bad = _readable(files)
        skipped += bad
        if not good:
            raise DataError(f"DATA {root}: class '{folder.name}' ({folder}) has no readable images; "
                            "add images or remove the folder")
        pairs += [(p, folder.name) for p in good]
    return pairs, skipped


def read_manifest_rows(path: Path) -> list[tuple[Path, str, str]]:
    """``(image path, label, split)`` of every row of a CSV manifest; files are not opened.

    Relative image paths are resolved against the CSV's folder; a missing split is ``train``.

    Example:
        >>> read_manifest_rows(Path("data/manifest.csv"))[0]  # doctest: +SKIP
        (PosixPath('data/cat/1.jpg'), 'cat', 'train')
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.reader(handle) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"DATA {path}: cannot read the CSV manifest ({exc})") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    if not rows:
        raise DataError(f"DATA {path}: the manifest lists no images; expected rows 'path,label[,split]'")
    files: list[tuple[Path, str, str]] = []
    for line, row in enumerate(rows, start=1):
        if len(row) < 2:
            raise DataError(f"DATA {path}: row {line} needs 'path,label' (got {','.join(row)!r})")
        split = row[2].strip().lower() if len(row) > 2 and row[2].strip() else "train"
        if split not in SPLIT_NAMES:
            raise DataError(f"DATA {path}: row {line} has split {split!r}; use train, val or test")
        image = Path(row[0].strip())
        files.append((image if image.is_absolute() else path.parent / image, row[1].strip(), split))
    return files


def _read_manifest(path: Path) -> tuple[dict[str, list[tuple[Path, str]]], list[tuple[Path, str]]]:
    files = read_manifest_rows(path)
    by_split: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    good, skipped = _readable([f for f, _, _ in files])
    good_set = set(good)
    for image, label, split in files:
        if image in good_set:
            by_split[split].append((image, label))
    return dict(by_split), skipped


def _readable(files: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    good, bad = [], []
    for path in files:
        try:
            width, height, _ = peek(path)
            if min(width, height) < MIN_SIDE:  # decodable, but no model input can come of it
                raise ImageError(f"{path}: too small ({width}x{height} px; at least {MIN_SIDE}x{MIN_SIDE} needed)")
            good.append(path)
        except ImageError as exc:
            bad.append((path, str(exc)))
    return good, bad


def _check_classes(root: Path, train: list[tuple[Path, str]]) -> list[str]:
    classes = sorted({c for _, c in train})
    if not classes:
        raise DataError(f"DATA {root}: no readable training images")
    if len(classes) < 2:
        raise DataError(f"DATA {root}: only one class ('{classes[0]}'); a classifier needs at least two")
    return classes


def _stratified_split(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Hold out ``fraction`` of each class (at least one image when the class has two or more)."""
    if fraction <= 0:
        return samples, []
    by_class: dict[int, list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: (s.label, str(s.path))):
        by_class[sample.label].append(sample)
    rng = random.Random(seed)
    kept, held = [], []
    for label in sorted(by_class):
        group = by_class[label]
        rng.shuffle(group)
        n_held = max(1, round(len(group) * fraction)) if len(group) >= 2 else 0
        held += group[:n_held]
        kept += group[n_held:]
    return kept, held
