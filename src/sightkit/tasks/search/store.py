"""The search catalogue on disk: one SQLite file of image paths, file fingerprints and embeddings.

Tables: ``meta`` (the model the vectors came from: bundle path, digest, dimension; a
revision bumped by every change), ``items`` (absolute path, file size and mtime in ns,
float32 vector as a little-endian blob) and ``index_cache`` (a serialised vector index of
one revision). Every write is one ``BEGIN IMMEDIATE`` transaction, so a reader sees the
catalogue before or after a batch of changes, never half of one, and a killed indexing run
keeps the batches it finished.

Example:
    >>> store = CatalogStore.open("catalog.db", create=True, meta={"model": {"digest": "ab12"}})  # doctest: +SKIP
    >>> store.count()                                                                           # doctest: +SKIP
    0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sightkit.core.sqlite_store import SqliteStore, StoreFormat, open_database, transaction
from sightkit.errors import CatalogError

# "SKSC" in the SQLite header: tells a sightkit search catalogue from any other SQLite file.
APPLICATION_ID = 0x534B5343
FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE TABLE index_cache (revision INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""
# check_same_thread=False: a catalogue may be used on a thread other than the one that opened it.
_FORMAT = StoreFormat("search catalogue", "--db", APPLICATION_ID, FORMAT_VERSION, _SCHEMA, CatalogError,
                      check_same_thread=False)


@dataclass(frozen=True)
class Item:
    """One image to store: its absolute path, file fingerprint (size, mtime in ns) and embedding."""

    path: str
    size: int
    mtime_ns: int
    vector: np.ndarray


class CatalogStore(SqliteStore):
    """Low-level access to a catalogue file; :class:`sightkit.tasks.search.api.SearchIndex` is the facade."""

    @classmethod
    def open(cls, path: str | Path, create: bool = False, meta: dict[str, Any] | None = None) -> CatalogStore:
        """Open a catalogue; with ``create=True`` a missing file is created holding ``meta``."""
        path = Path(path)
        if path.is_dir():
            raise CatalogError(f"{path}: is a folder; give a catalogue file such as catalog.db")
        if not path.exists():
            if not create:
                raise CatalogError(f"{path}: catalogue not found; build it with "
                                   f"'sightkit search index BUNDLE FOLDER --db {path}'")
            if not path.parent.is_dir():
                raise CatalogError(f"{path}: folder {path.parent} does not exist")
        return cls(path, open_database(path, _FORMAT, create, meta))

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def fingerprints(self) -> dict[str, tuple[int, int]]:
        """``{path: (size, mtime_ns)}`` of every stored image."""
        return {path: (size, mtime) for path, size, mtime in self._db.execute("SELECT path, size, mtime_ns FROM items")}

    def put(self, items: Sequence[Item]) -> None:
        """Add or replace (by path) ``items`` in one transaction."""
        if not items:
            return
        with transaction(self._db):
            self._db.executemany(
                "INSERT INTO items (path, size, mtime_ns, vector) VALUES (?, ?, ?, ?) ON CONFLICT(path) DO UPDATE "
                "SET size = excluded.size, mtime_ns = excluded.mtime_ns, vector = excluded.vector",
                [(i.path, int(i.size), int(i.mtime_ns), np.asarray(i.vector, dtype="<f4").tobytes()) for i in items])
            self._changed()

    def remove(self, paths: Sequence[str]) -> int:
        """Delete the entries of ``paths`` in one transaction; returns how many there were."""
        if not paths:
            return 0
        with transaction(self._db):
            before = self.count()
            self._db.executemany("DELETE FROM items WHERE path = ?", [(p,) for p in paths])
            removed = before - self.count()
            if removed:
                self._changed()
        return removed

    def vectors(self) -> tuple[np.ndarray, list[str]]:
        """``(N x D float32 vectors, N paths)`` in storage order."""
        return self.snapshot()[1:]

    def snapshot(self) -> tuple[int, np.ndarray, list[str]]:
        """``(revision, vectors, paths)`` read in one transaction, so they always belong together."""
        self._db.execute("BEGIN")
        try:
            revision = self.revision()
            rows = self._db.execute("SELECT path, vector FROM items ORDER BY id").fetchall()
        finally:
            self._db.execute("COMMIT")
        if not rows:
            return revision, np.zeros((0, 0), np.float32), []
        vectors = np.frombuffer(b"".join(v for _, v in rows), dtype="<f4").reshape(len(rows), -1)
        return revision, vectors.astype(np.float32), [path for path, _ in rows]

    def cached_index(self, revision: int) -> bytes | None:
        row = self._db.execute("SELECT data FROM index_cache WHERE revision = ?", (revision,)).fetchone()
        return row[0] if row else None

    def cache_index(self, revision: int, data: bytes) -> None:
        """Keep the serialised index of ``revision`` unless the catalogue changed while it was built."""
        self._cache_if_current(revision, (revision, data))
