"""The SQLite plumbing of the face gallery and the search catalogue: format checks, meta, revision, index cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sightkit.core.sqlite_store import SqliteStore, StoreFormat, open_database, transaction
from sightkit.errors import CatalogError, GalleryError
from sightkit.tasks.face.gallery import EmbeddingRow, GalleryStore
from sightkit.tasks.search.store import CatalogStore, Item

NOTES = StoreFormat("notes file", "--notes", 0x4E4F5445, 2,
                    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                    "CREATE TABLE index_cache (revision INTEGER PRIMARY KEY, data BLOB NOT NULL);"
                    "CREATE TABLE notes (text TEXT)", CatalogError, pragmas=("foreign_keys = ON",))


def _open(path: Path, create: bool = False) -> SqliteStore:
    return SqliteStore(path, open_database(path, NOTES, create, {"owner": "ann"}))


def _header(path: Path) -> tuple[int, int]:
    connection = sqlite3.connect(path)
    try:
        return (connection.execute("PRAGMA application_id").fetchone()[0],
                connection.execute("PRAGMA user_version").fetchone()[0])
    finally:
        connection.close()


def test_a_new_store_has_its_header_schema_meta_and_pragmas(tmp_path: Path) -> None:
    store = _open(tmp_path / "n.db", create=True)
    assert store.meta() == {"owner": "ann", "revision": 0} and store.revision() == 0
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    store.close()
    assert _header(tmp_path / "n.db") == (0x4E4F5445, 2)
    reopened = _open(tmp_path / "n.db")  # an existing store keeps its meta
    assert reopened.meta()["owner"] == "ann"
    reopened.close()


def test_other_files_and_newer_formats_are_refused_with_the_store_s_own_error(tmp_path: Path) -> None:
    text = tmp_path / "text.db"
    text.write_text("hello, not SQLite")
    with pytest.raises(CatalogError, match="text.db: not a sightkit notes file"):
        _open(text, create=True)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(CatalogError, match="other SQLite file\\); choose another --notes file"):
        _open(other, create=True)
    with pytest.raises(CatalogError, match="an empty or other SQLite file"):
        _open(tmp_path / "empty.db", create=False)
    newer = tmp_path / "newer.db"
    _open(newer, create=True).close()
    connection = sqlite3.connect(newer)
    connection.execute("PRAGMA user_version = 3")
    connection.commit()
    connection.close()
    with pytest.raises(CatalogError, match="notes file format 3 was written by a newer sightkit "
                                           "\\(this one reads up to 2\\)"):
        _open(newer)


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = _open(tmp_path / "n.db", create=True)
    with pytest.raises(ValueError), transaction(store._db):
        store._db.execute("INSERT INTO notes VALUES ('half')")
        raise ValueError("stop")
    assert store._db.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
    store.close()


def test_a_change_bumps_the_revision_and_a_stale_index_is_not_cached(tmp_path: Path) -> None:
    store = _open(tmp_path / "n.db", create=True)
    store._cache_if_current(0, (0, b"graph-0"))
    assert store._db.execute("SELECT data FROM index_cache").fetchall() == [(b"graph-0",)]
    with transaction(store._db):
        store._changed()
    assert store.revision() == 1 and store._db.execute("SELECT COUNT(*) FROM index_cache").fetchone()[0] == 0
    store._cache_if_current(0, (0, b"built-before-the-change"))
    assert store._db.execute("SELECT COUNT(*) FROM index_cache").fetchone()[0] == 0
    store.close()


def test_gallery_and_catalogue_files_keep_their_on_disk_identity(tmp_path: Path) -> None:
    """Galleries and catalogues written before the shared module must still open: same header, same tables."""
    gallery = GalleryStore.open(tmp_path / "people.db", create=True)
    gallery.add("ann", [EmbeddingRow("a.jpg", 0.0, np.ones(128, np.float32))])
    gallery.cache_index(0.0, gallery.revision(), b"graph")
    assert gallery.cached_index(0.0, 1) == b"graph" and gallery.cached_index(0.0, 0) is None
    gallery.close()
    catalogue = CatalogStore.open(tmp_path / "catalog.db", create=True, meta={"model": {"digest": "ab"}})
    catalogue.put([Item("/x/a.jpg", 3, 4, np.ones(8, np.float32))])
    catalogue.cache_index(catalogue.revision(), b"graph")
    assert catalogue.cached_index(1) == b"graph"
    catalogue.close()
    assert _header(tmp_path / "people.db") == (0x534B4647, 1)  # "SKFG", format 1
    assert _header(tmp_path / "catalog.db") == (0x534B5343, 1)  # "SKSC", format 1
    tables = {name for (name,) in sqlite3.connect(tmp_path / "people.db").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"meta", "people", "embeddings", "chips", "index_cache"}
    with pytest.raises(GalleryError, match="not a sightkit face gallery"):
        GalleryStore.open(tmp_path / "catalog.db")
    with pytest.raises(CatalogError, match="not a sightkit search catalogue"):
        CatalogStore.open(tmp_path / "people.db")
