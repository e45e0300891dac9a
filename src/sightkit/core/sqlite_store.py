"""The SQLite plumbing that sightkit's embedded stores (face gallery, search catalogue) share.

A store is one SQLite file in WAL mode that carries its own application id and format
version in the header, so that another SQLite file, or one from a newer sightkit, is
refused with a clear error. Every store has a ``meta`` table (JSON values, among them a
``revision`` bumped by every change) and an ``index_cache`` table of serialised vector
indexes that a change drops. Every write is one ``BEGIN IMMEDIATE`` transaction; a writer
waits up to 30 s for another process's transaction.

Example:
    >>> import tempfile
    >>> from sightkit.errors import CatalogError
    >>> notes = StoreFormat("notes file", "--notes", 0x4E4F5445, 1, "CREATE TABLE meta (key TEXT PRIMARY KEY, "
    ...                     "value TEXT NOT NULL); CREATE TABLE index_cache (revision INTEGER, data BLOB)", CatalogError)
    >>> path = Path(tempfile.mkdtemp()) / "notes.db"
    >>> store = SqliteStore(path, open_database(path, notes, create=True, meta={"owner": "ann"}))
    >>> store.meta(), store.revision()
    ({'owner': 'ann', 'revision': 0}, 0)
    >>> store.close()
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sightkit.errors import SightkitError

# A writer waits this long for another process's transaction before giving up.
BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class StoreFormat:
    """What tells one kind of store file from any other SQLite file, and how to open it.

    ``kind`` and ``option`` name the store and the command-line option that chooses its file
    in error messages; ``pragmas`` are run on every connection after the shared ones.
    """

    kind: str
    option: str
    application_id: int
    version: int
    schema: str
    error: type[SightkitError]
    pragmas: tuple[str, ...] = ()
    check_same_thread: bool = True


def open_database(path: Path, fmt: StoreFormat, create: bool = False,
                  meta: dict[str, Any] | None = None) -> sqlite3.Connection:
    """Connect to the store file ``path``; with ``create=True`` an empty file gets ``fmt``'s schema and ``meta``.

    Raises ``fmt.error`` for a file that is not SQLite, another kind of SQLite file, or a newer format.

    Example:
        >>> open_database(Path("people.db"), GALLERY_FORMAT, create=True)  # doctest: +SKIP
        <sqlite3.Connection object at 0x...>
    """
    try:
        connection = _connect(path, fmt)
        app_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        empty = connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    except sqlite3.DatabaseError as exc:
        raise fmt.error(f"{path}: not a sightkit {fmt.kind} ({exc})") from None
    if empty and app_id == 0 and create:  # a new file, or one another process created a moment ago
        _initialize(connection, fmt, meta or {})
    elif app_id != fmt.application_id:
        connection.close()
        raise fmt.error(f"{path}: not a sightkit {fmt.kind} (an empty or other SQLite file); "
                        f"choose another {fmt.option} file")
    elif version > fmt.version:
        connection.close()
        raise fmt.error(f"{path}: {fmt.kind} format {version} was written by a newer sightkit "
                        f"(this one reads up to {fmt.version}); upgrade sightkit")
    return connection


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` write transaction: committed on success, rolled back on any exception.

    Example:
        >>> with transaction(connection):                                     # doctest: +SKIP
        ...     connection.execute("DELETE FROM items WHERE path = ?", ("a.jpg",))
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


class SqliteStore:
    """An open store file: its ``meta`` table, revision and index cache; subclasses add their tables.

    Example:
        >>> SqliteStore(path, open_database(path, fmt)).revision()  # doctest: +SKIP
        3
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path, self._db = path, connection

    def close(self) -> None:
        self._db.close()

    def meta(self) -> dict[str, Any]:
        """Everything in the ``meta`` table, the ``revision`` included."""
        return {key: json.loads(value) for key, value in self._db.execute("SELECT key, value FROM meta")}

    def revision(self) -> int:
        """How many changes the store has seen: an index built at one revision is stale at the next."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return int(json.loads(row[0])) if row else 0

    def _cache_if_current(self, revision: int, row: tuple[Any, ...]) -> None:
        """Store ``row`` in ``index_cache`` unless the store changed since ``revision`` (the index is stale)."""
        with transaction(self._db):
            if self.revision() == revision:
                placeholders = ", ".join("?" * len(row))
                self._db.execute(f"INSERT OR REPLACE INTO index_cache VALUES ({placeholders})", row)

    def _changed(self) -> None:
        """Inside a write transaction: bump the revision and drop indexes built from older data."""
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'revision'", (json.dumps(self.revision() + 1),))
        self._db.execute("DELETE FROM index_cache")


def _initialize(connection: sqlite3.Connection, fmt: StoreFormat, meta: dict[str, Any]) -> None:
    """Create the schema and ``meta`` (revision 0) unless a concurrent process has just done so."""
    with transaction(connection):
        if connection.execute("PRAGMA application_id").fetchone()[0] == fmt.application_id:
            return
        for statement in filter(str.strip, fmt.schema.split(";")):
            connection.execute(statement)
        connection.executemany("INSERT INTO meta VALUES (?, ?)",
                               [(k, json.dumps(v)) for k, v in {**meta, "revision": 0}.items()])
        connection.execute(f"PRAGMA application_id = {fmt.application_id}")
        connection.execute(f"PRAGMA user_version = {fmt.version}")


def _connect(path: Path, fmt: StoreFormat) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                 check_same_thread=fmt.check_same_thread)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL").fetchone()
    connection.execute("PRAGMA synchronous = FULL")
    for pragma in fmt.pragmas:
        connection.execute(f"PRAGMA {pragma}")
    return connection
