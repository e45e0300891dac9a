"""The face gallery on disk: one SQLite file (WAL mode, created with mode 0600).

Tables: ``meta`` (settings: face options, calibrated threshold, revision), ``people``,
``embeddings`` (128 float32 per row, tagged with its ladder level), ``chips`` (aligned
face pixels, only when the gallery keeps images) and ``index_cache`` (a serialised vector
index, rebuilt after any change). Every write is one ``BEGIN IMMEDIATE`` transaction, so
two processes enrolling and identifying at once see the gallery before or after a change,
never half of one. Deleted rows are overwritten (``secure_delete``) so that removed
people do not linger in free pages.

Example:
    >>> store = GalleryStore.open("people.db", create=True)        # doctest: +SKIP
    >>> store.people()                                              # doctest: +SKIP
    []
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sightkit.core.sqlite_store import SqliteStore, StoreFormat, open_database, transaction
from sightkit.errors import GalleryError

# "SKFG" in the SQLite header: tells a sightkit gallery from any other SQLite file.
APPLICATION_ID = 0x534B4647
FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE embeddings (
    id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    image TEXT NOT NULL, level REAL NOT NULL, vector BLOB NOT NULL);
CREATE INDEX embeddings_person ON embeddings(person_id);
CREATE TABLE chips (
    id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    image TEXT NOT NULL, chip BLOB NOT NULL);
CREATE TABLE index_cache (level REAL PRIMARY KEY, revision INTEGER NOT NULL, data BLOB NOT NULL);
"""
_FORMAT = StoreFormat("face gallery", "--gallery", APPLICATION_ID, FORMAT_VERSION, _SCHEMA, GalleryError,
                      pragmas=("foreign_keys = ON", "secure_delete = ON"))


@dataclass(frozen=True)
class Person:
    """One enrolled person: name, enrolled images, stored embeddings and enrollment time (epoch s)."""

    name: str
    images: int
    embeddings: int
    created: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "images": self.images, "embeddings": self.embeddings,
                "enrolled": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created))}


@dataclass(frozen=True)
class EmbeddingRow:
    """An embedding to store: which image it came from and its ladder level (0 = full resolution)."""

    image: str
    level: float
    vector: np.ndarray


class GalleryStore(SqliteStore):
    """Low-level access to a gallery file; :class:`sightkit.tasks.face.api.FaceGallery` is the facade."""

    @classmethod
    def open(cls, path: str | Path, create: bool = False, meta: dict[str, Any] | None = None) -> GalleryStore:
        """Open a gallery; with ``create=True`` a missing file is created (mode 0600) with ``meta``."""
        path = Path(path)
        if not path.exists() and not create:
            raise GalleryError(f"{path}: gallery not found; create it with 'sightkit face enroll --gallery {path} NAME IMAGES'")
        check_location(path)
        if not path.exists():
            return cls._create(path, meta or {})
        return cls(path, open_database(path, _FORMAT, create, meta))

    @classmethod
    def _create(cls, path: Path, meta: dict[str, Any]) -> GalleryStore:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass  # another process created it first; open() initialises or reads it
        return cls.open(path, create=True, meta=meta)

    # -- settings (meta(), revision(): see SqliteStore) ---------------------------------------
    def set_meta(self, **values: Any) -> None:
        with transaction(self._db):
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in values.items()])

    # -- people ---------------------------------------------------------------------------
    def add(self, name: str, rows: Sequence[EmbeddingRow], chips: Sequence[tuple[str, np.ndarray]] = (),
            replace: bool = False) -> None:
        """Store one person's embeddings (and chips); see :meth:`add_people`."""
        self.add_people([(name, rows, chips)], replace=replace)

    def add_people(self, people: Sequence[tuple[str, Sequence[EmbeddingRow], Sequence[tuple[str, np.ndarray]]]],
                   replace: bool = False) -> None:
        """Store ``(name, embeddings, chips)`` of several people in one transaction.

        ``replace`` drops each person's earlier embeddings first; otherwise they are added to.
        """
        with transaction(self._db):
            for name, rows, chips in people:
                person = self._person_id(name, replace)
                self._db.executemany(
                    "INSERT INTO embeddings (person_id, image, level, vector) VALUES (?, ?, ?, ?)",
                    [(person, r.image, float(r.level), np.asarray(r.vector, dtype="<f4").tobytes()) for r in rows])
                self._db.executemany("INSERT INTO chips (person_id, image, chip) VALUES (?, ?, ?)",
                                     [(person, image, _encode_chip(chip)) for image, chip in chips])
            self._changed()

    def _person_id(self, name: str, replace: bool) -> int:
        """Inside a write transaction: the id of ``name``, created (or, with ``replace``, re-created) as needed."""
        found = self._db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
        if found and replace:
            self._db.execute("DELETE FROM people WHERE id = ?", (found[0],))
            found = None
        if found is not None:
            return int(found[0])
        return int(self._db.execute("INSERT INTO people (name, created) VALUES (?, ?)", (name, time.time())).lastrowid)

    def remove(self, name: str) -> int:
        """Delete a person with all their embeddings and chips; returns how many embeddings went."""
        with transaction(self._db):
            found = self._db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
            if found is None:
                raise GalleryError(f"{self.path}: no person named {name!r}; see 'sightkit face list --gallery {self.path}'")
            count = self._db.execute("SELECT COUNT(*) FROM embeddings WHERE person_id = ?", found).fetchone()[0]
            self._db.execute("DELETE FROM people WHERE id = ?", found)
            self._changed()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no copy of the deleted rows left in the WAL file
        return int(count)

    def people(self) -> list[Person]:
        rows = self._db.execute(
            "SELECT p.name, COUNT(DISTINCT e.image), COUNT(e.id), p.created FROM people p "
            "LEFT JOIN embeddings e ON e.person_id = p.id GROUP BY p.id ORDER BY p.name")
        return [Person(name, images, count, created) for name, images, count, created in rows]

    def embeddings(self, level: float | None = None) -> tuple[np.ndarray, list[str]]:
        """``(N x 128 vectors, N names)`` of every embedding, or of one ladder level."""
        query = "SELECT p.name, e.vector FROM embeddings e JOIN people p ON p.id = e.person_id"
        rows = self._db.execute(query + (" WHERE e.level = ?" if level is not None else "") + " ORDER BY e.id",
                                () if level is None else (float(level),)).fetchall()
        vectors = np.frombuffer(b"".join(v for _, v in rows), dtype="<f4").reshape(len(rows), -1) if rows else np.zeros((0, 128), np.float32)
        return vectors.astype(np.float32), [name for name, _ in rows]

    def levels(self) -> list[float]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT level FROM embeddings ORDER BY level")]

    def chips(self, name: str) -> list[np.ndarray]:
        rows = self._db.execute("SELECT c.chip FROM chips c JOIN people p ON p.id = c.person_id WHERE p.name = ?", (name,))
        return [_decode_chip(blob) for (blob,) in rows]

    # -- vector index cache ---------------------------------------------------------------
    def cached_index(self, level: float, revision: int) -> bytes | None:
        row = self._db.execute("SELECT data FROM index_cache WHERE level = ? AND revision = ?",
                               (float(level), revision)).fetchone()
        return row[0] if row else None

    def cache_index(self, level: float, revision: int, data: bytes) -> None:
        """Keep the serialised index of ``level`` at ``revision`` unless the gallery changed while it was built."""
        self._cache_if_current(revision, (float(level), revision, data))


def check_location(path: Path) -> None:
    """Raise :class:`GalleryError` unless ``path`` is a gallery file or a new one can be made there.

    Example:
        >>> check_location(Path("no-such-folder/people.db"))
        Traceback (most recent call last):
        sightkit.errors.GalleryError: no-such-folder/people.db: folder no-such-folder does not exist
    """
    if path.is_dir():
        raise GalleryError(f"{path}: is a folder; give a gallery file such as people.db")
    if not path.parent.is_dir():
        raise GalleryError(f"{path}: folder {path.parent} does not exist")


def _encode_chip(chip: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(chip).save(buffer, format="PNG")
    return buffer.getvalue()


def _decode_chip(blob: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
