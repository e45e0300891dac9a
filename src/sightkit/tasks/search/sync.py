"""Bring a catalogue up to date with a folder: embed new and changed images, skip unchanged, prune gone.

A file is unchanged when its size and modification time (ns) match the stored ones. New and
changed images are embedded in chunks of ``CHUNK`` and each chunk is written in one
transaction, so an interrupted run keeps the chunks it finished and the next run goes on.

Example:
    >>> summary = sync_folder(store, clf, "catalogue/")   # doctest: +SKIP
    >>> summary.added, summary.unchanged                  # doctest: +SKIP
    (120, 0)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sightkit.errors import DataError
from sightkit.tasks.search.store import CatalogStore, Item

if TYPE_CHECKING:
    from sightkit.tasks.classify.api import Classifier

CHUNK = 512


@dataclass
class SyncSummary:
    """What one indexing run did; ``unreadable`` lists ``(path, error)`` of images left out."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    total: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed,
                "total": self.total, "unreadable": [{"path": p, "error": e} for p, e in self.unreadable]}


def plan(store: CatalogStore, folder: str | Path) -> tuple[list[tuple[str, int, int]], int]:
    """``([(path, size, mtime_ns) to embed], unchanged count)`` for the images under ``folder``."""
    from sightkit.tasks.classify.predict import expand_image_paths

    known = store.fingerprints()
    todo, unchanged = [], 0
    for path in expand_image_paths([folder]):
        stat = path.stat()
        key = os.path.abspath(path)
        if known.get(key) == (stat.st_size, stat.st_mtime_ns):
            unchanged += 1
        else:
            todo.append((key, stat.st_size, stat.st_mtime_ns))
    return todo, unchanged


def sync_folder(store: CatalogStore, model: Classifier, folder: str | Path, prune: bool = False,
                batch_size: int = 64, progress: Callable[[int], None] | None = None) -> SyncSummary:
    """Embed the new and changed images under ``folder`` into ``store``; ``prune`` drops its gone files.

    ``progress(n)`` is called after each batch with its number of images.
    """
    known = set(store.fingerprints())
    todo, unchanged = plan(store, folder)
    summary = SyncSummary(unchanged=unchanged)
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        items, failed = _embed(model, chunk, batch_size, progress)
        store.put(items)
        summary.unreadable += failed
        summary.updated += sum(item.path in known for item in items)
        summary.added += sum(item.path not in known for item in items)
    if prune:
        summary.removed = store.remove(missing_under(store, folder))
    summary.total = store.count()
    return summary


def missing_under(store: CatalogStore, folder: str | Path | None = None) -> list[str]:
    """Stored paths (under ``folder``, or all) whose files no longer exist."""
    prefix = os.path.join(os.path.abspath(folder), "") if folder is not None else ""
    return [path for path in store.fingerprints() if path.startswith(prefix) and not Path(path).is_file()]


def _embed(model: Classifier, chunk: list[tuple[str, int, int]], batch_size: int,
           progress: Callable[[int], None] | None) -> tuple[list[Item], list[tuple[str, str]]]:
    paths = [Path(path) for path, _, _ in chunk]
    try:
        rows, kept, failed = model.predictor.embed(paths, batch_size, skip_errors=True, progress=progress)
    except DataError as exc:  # not one readable image in the chunk
        return [], [(str(path), str(exc)) for path in paths]
    items = [Item(chunk[i][0], chunk[i][1], chunk[i][2], rows[n]) for n, i in enumerate(kept)]
    return items, [(chunk[i][0], error) for i, error in failed]
