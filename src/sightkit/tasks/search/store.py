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

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sightkit.errors import CatalogError

# "SKSC" in the SQLite header: tells a sightkit search catalogue from any other SQLite file.
APPLICATION_ID = 0x534B5343
FORMAT_VERSION = 1
_BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE TABLE index_cache (revision INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""


@dataclass(frozen=True)
class Item:
    """One image to store: its absolute path, file fingerprint (size, mtime in ns) and embedding."""

    path: str
    size: int
    mtime_ns: int
    vector: np.ndarray


class CatalogStore:
    """Low-level access to a catalogue file; :class:`sightkit.tasks.search.api.SearchIndex` is the facade."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path, self._db = path, connection

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
        try:
            connection = _connect(path)
            app_id = connection.execute("PRAGMA application_id").fetchone()[0]
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            empty = connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{path}: not a sightkit search catalogue ({exc})") from None
        if empty and app_id == 0 and create:
            _initialize(connection, meta or {})
        elif app_id != APPLICATION_ID:
            connection.close()
            raise CatalogError(f"{path}: not a sightkit search catalogue (an empty or other SQLite file); "
                               "choose another --db file")
        elif version > FORMAT_VERSION:
            connection.close()
            raise CatalogError(f"{path}: catalogue format {version} was written by a newer sightkit "
                               f"(this one reads up to {FORMAT_VERSION}); upgrade sightkit")
        return cls(path, connection)

    def close(self) -> None:
        self._db.close()

    def meta(self) -> dict[str, Any]:
        """Everything in the ``meta`` table (model identity, revision)."""
        return {key: json.loads(value) for key, value in self._db.execute("SELECT key, value FROM meta")}

    def revision(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return int(json.loads(row[0])) if row else 0

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def fingerprints(self) -> dict[str, tuple[int, int]]:
        """``{path: (size, mtime_ns)}`` of every stored image."""
        return {path: (size, mtime) for path, size, mtime in self._db.execute("SELECT path, size, mtime_ns FROM items")}

    def put(self, items: Sequence[Item]) -> None:
        """Add or replace (by path) ``items`` in one transaction."""
        if not items:
            return
        with _transaction(self._db):
            self._db.executemany(
                "INSERT INTO items (path, size, mtime_ns, vector) VALUES (?, ?, ?, ?) ON CONFLICT(path) DO UPDATE "
                "SET size = excluded.size, mtime_ns = excluded.mtime_ns, vector = excluded.vector",
                [(i.path, int(i.size), int(i.mtime_ns), np.asarray(i.vector, dtype="<f4").tobytes()) for i in items])
            self._changed()

    def remove(self, paths: Sequence[str]) -> int:
        """Delete the entries of ``paths`` in one transaction; returns how many there were."""
        if not paths:
            return 0
        with _transaction(self._db):
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
        with _transaction(self._db):
            if self.revision() == revision:  # nothing changed while the index was built
                self._db.execute("INSERT OR REPLACE INTO index_cache VALUES (?, ?)", (revision, data))

    def _changed(self) -> None:
        """Inside a write transaction: bump the revision and drop indexes of older revisions."""
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'revision'", (json.dumps(self.revision() + 1),))
        self._db.execute("DELETE FROM index_cache")


def _initialize(connection: sqlite3.Connection, meta: dict[str, Any]) -> None:
    with _transaction(connection):
        if connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
            return  # another process created it a moment ago
        for statement in filter(str.strip, _SCHEMA.split(";")):
            connection.execute(statement)
        connection.executemany("INSERT INTO meta VALUES (?, ?)",
                               [(k, json.dumps(v)) for k, v in {**meta, "revision": 0}.items()])
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {FORMAT_VERSION}")


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                 check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL").fetchone()
    connection.execute("PRAGMA synchronous = FULL")
    return connection


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
