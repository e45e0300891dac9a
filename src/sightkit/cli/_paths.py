"""Short, unambiguous image names for tables: each path relative to the folder that holds them all."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class RelativeNames:
    """The common folder (``""`` when there is none worth naming) and each path relative to it."""

    root: str
    names: list[str]


def relative_names(paths: Sequence[str]) -> RelativeNames:
    """Paths relative to their common folder, so a table shows ``cat/1.jpg`` rather than a cut absolute path.

    Entries that are not files on disk (``<image 0>``) are kept as they are; paths that share
    only the file system root stay absolute.

    Example:
        >>> relative_names(["/data/pets/cat/1.jpg", "/data/pets/dog/2.jpg"])
        RelativeNames(root='/data/pets', names=['cat/1.jpg', 'dog/2.jpg'])
    """
    files = [os.path.abspath(p) for p in paths if not p.startswith("<")]
    if not files:
        return RelativeNames("", list(paths))
    root = os.path.commonpath([os.path.dirname(p) for p in files])
    if os.path.dirname(root) == root:  # only the file system root in common: full paths say more
        return RelativeNames("", [p if p.startswith("<") else os.path.abspath(p) for p in paths])
    names = [p if p.startswith("<") else os.path.relpath(os.path.abspath(p), root) for p in paths]
    return RelativeNames(root, names)
