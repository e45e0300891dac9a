"""Every image file of a dataset with its class and split, readable or not, for audits.

:func:`~sightkit.data.discover.discover` keeps only files it can use for training; an audit
must see the others too. The layouts are the ones ``discover`` reads:

* a folder with one subfolder per class;
* a folder with ``train/`` (and optionally ``val/``, ``test/``) subfolders laid out per class;
* a CSV manifest ``path,label[,split]``;
* in addition, a folder of images with no class subfolders (unlabelled: ``label`` is None).

Example:
    >>> inv = list_dataset("data/flowers")  # doctest: +SKIP
    >>> inv.layout, len(inv.entries), inv.entries[0].label  # doctest: +SKIP
    ('class folders', 120, 'daisy')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sightkit.core.images import is_image_file
from sightkit.data.discover import SPLIT_NAMES, read_manifest_rows
from sightkit.errors import DataError


@dataclass(frozen=True)
class Entry:
    """One file of a dataset: its path, class name (None when unlabelled) and split (None without splits)."""

    path: Path
    label: str | None
    split: str | None


@dataclass
class Inventory:
    """The files of a dataset and how they were laid out."""

    source: Path
    layout: str
    entries: list[Entry]

    @property
    def has_splits(self) -> bool:
        """Whether the data names more than one split (so leakage between splits can be checked)."""
        return len({e.split for e in self.entries if e.split is not None}) > 1


def list_dataset(data: str | Path) -> Inventory:
    """All image files of ``data`` (by suffix; none is opened), sorted by split, class and path."""
    root = Path(data)
    if not root.exists():
        raise DataError(f"DATA {root}: not found; give a folder of images (one subfolder per class) or a CSV manifest")
    if root.is_file():
        entries = [Entry(p, label, split) for p, label, split in read_manifest_rows(root)]
        layout = "CSV manifest"
    elif (root / "train").is_dir():
        entries = []
        for split in SPLIT_NAMES:
            if (root / split).is_dir():
                entries += _class_folders(root / split, split)
        layout = "split folders"
    elif _subfolders(root):
        entries, layout = _class_folders(root, None), "class folders"
    else:
        entries, layout = [Entry(p, None, None) for p in _images(root)], "unlabelled folder"
    if not entries:
        raise DataError(f"DATA {root}: no image files found (by suffix: .jpg, .png, .bmp, .tif, .webp, ...)")
    return Inventory(root, layout, entries)


def _subfolders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p) and not p.name.startswith("."))


def _class_folders(root: Path, split: str | None) -> list[Entry]:
    return [Entry(path, folder.name, split) for folder in _subfolders(root) for path in _images(folder)]
