"""``SearchIndex``: build, query, incremental add / update / remove, and refusal of another model."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sightkit.errors import CatalogError, ConfigError
from sightkit.tasks.search.api import SearchIndex


def test_each_indexed_image_finds_itself_first(search_bundle: Path, catalogue: Path, tmp_path: Path) -> None:
    with SearchIndex.build(search_bundle, catalogue, tmp_path / "c.db") as index:
        assert index.last_sync.added == 8 and len(index) == 8
        files = sorted(catalogue.rglob("*.png"))
        results = index.query_many(files, k=3)
    for path, hits in zip(files, results):
        assert hits[0].path == os.path.abspath(path) and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert [hit.rank for hit in hits] == [1, 2, 3]
        assert hits[0].score >= hits[1].score >= hits[2].score


def test_open_later_answers_with_the_stored_model(search_bundle: Path, catalogue: Path, tmp_path: Path) -> None:
    SearchIndex.build(search_bundle, catalogue, tmp_path / "c.db").close()
    with SearchIndex.open(tmp_path / "c.db") as index:
        hits = index.query(catalogue / "bags" / "5.png", k=20)
    assert len(hits) == 8 and hits[0].path.endswith("bags/5.png")


def test_rerun_skips_unchanged_updates_changed_adds_new_and_prunes_gone(
        search_bundle: Path, catalogue: Path, tmp_path: Path, image_writer) -> None:
    db = tmp_path / "c.db"
    SearchIndex.build(search_bundle, catalogue, db).close()
    before = _vector(db, catalogue / "shoes" / "0.png")
    image_writer(catalogue / "shoes" / "0.png", 100)            # changed content
    os.utime(catalogue / "shoes" / "0.png", ns=(1, 1))          # and an mtime that surely differs
    image_writer(catalogue / "shoes" / "new.png", 101)
    (catalogue / "bags" / "7.png").unlink()
    with SearchIndex.build(search_bundle, catalogue, db) as index:
        summary = index.last_sync
        assert (summary.added, summary.updated, summary.unchanged, summary.removed) == (1, 1, 6, 0)
        assert summary.total == 9  # 7.png is still listed without --prune
        with SearchIndex.build(search_bundle, catalogue, db, prune=True) as pruned:
            assert (pruned.last_sync.unchanged, pruned.last_sync.removed, len(pruned)) == (8, 1, 8)
        paths = {hit.path for hit in index.query(catalogue / "shoes" / "new.png", k=20)}
    assert not np.allclose(before, _vector(db, catalogue / "shoes" / "0.png"))
    assert os.path.abspath(catalogue / "bags" / "7.png") not in paths and len(paths) == 8


def test_remove_by_file_folder_and_missing(search_bundle: Path, catalogue: Path, tmp_path: Path) -> None:
    with SearchIndex.build(search_bundle, catalogue, tmp_path / "c.db") as index:
        assert index.remove([catalogue / "shoes" / "1.png"]) == 1
        assert index.remove([catalogue / "bags"]) == 4
        (catalogue / "shoes" / "2.png").unlink()
        assert index.remove_missing() == 1
        assert len(index) == 2
        assert {Path(hit.path).name for hit in index.query(catalogue / "shoes" / "0.png", k=5)} == {"0.png", "3.png"}


def test_another_model_is_refused_for_indexing_and_querying(search_bundle: Path, other_bundle: Path,
                                                             catalogue: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    SearchIndex.build(search_bundle, catalogue, db).close()
    with pytest.raises(CatalogError, match="built with the model .* not .*index into a new --db"):
        SearchIndex.build(other_bundle, catalogue, db)
    with pytest.raises(CatalogError, match="built with the model"):
        SearchIndex.open(db, bundle=other_bundle)
    with SearchIndex.open(db, bundle=search_bundle) as same:
        assert len(same) == 8


def test_a_changed_or_missing_stored_model_is_refused(search_bundle: Path, other_bundle: Path, catalogue: Path,
                                                      tmp_path: Path) -> None:
    import shutil

    model = shutil.copytree(search_bundle, tmp_path / "model")
    db = tmp_path / "c.db"
    SearchIndex.build(model, catalogue, db).close()
    shutil.copy(other_bundle / "weights.safetensors", model / "weights.safetensors")
    with pytest.raises(CatalogError, match="changed since the catalogue was built"):
        SearchIndex.open(db)
    shutil.rmtree(model)
    with pytest.raises(CatalogError, match="is gone; give it with --bundle"):
        SearchIndex.open(db)


def test_bad_catalogue_files_and_folders_are_refused(search_bundle: Path, catalogue: Path, tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalogue not found"):
        SearchIndex.open(tmp_path / "none.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(CatalogError, match="not a sightkit search catalogue"):
        SearchIndex.open(other)
    with pytest.raises(ConfigError, match="not a folder"):
        SearchIndex.build(search_bundle, tmp_path / "missing", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="no image files"):
        SearchIndex.build(search_bundle, tmp_path / "empty", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists()  # a failed first run leaves no catalogue behind


def test_unreadable_images_are_reported_and_left_out(search_bundle: Path, catalogue: Path, tmp_path: Path) -> None:
    (catalogue / "shoes" / "broken.png").write_bytes(b"not a png")
    with SearchIndex.build(search_bundle, catalogue, tmp_path / "c.db") as index:
        assert len(index) == 8
        assert [Path(p).name for p, _ in index.last_sync.unreadable] == ["broken.png"]


def _vector(db: Path, image: Path) -> np.ndarray:
    with sqlite3.connect(db) as connection:
        blob = connection.execute("SELECT vector FROM items WHERE path = ?", (os.path.abspath(image),)).fetchone()[0]
    return np.frombuffer(blob, dtype="<f4")


def test_an_open_catalogue_sees_images_indexed_by_another_writer(search_bundle: Path, catalogue: Path,
                                                                  tmp_path: Path, image_writer) -> None:
    db = tmp_path / "c.db"
    SearchIndex.build(search_bundle, catalogue, db).close()
    with SearchIndex.open(db) as reader:
        assert len(reader.query(catalogue / "shoes" / "0.png", k=20)) == 8
        image_writer(catalogue / "bags" / "late.png", 50)
        SearchIndex.build(search_bundle, catalogue, db).close()       # e.g. a cron job while a server runs
        assert reader.query(catalogue / "bags" / "late.png", k=1)[0].path.endswith("late.png")


def test_hnsw_back_end_answers_like_exact_and_caches_its_graph(search_bundle: Path, catalogue: Path,
                                                                tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    db = tmp_path / "c.db"
    SearchIndex.build(search_bundle, catalogue, db).close()
    query = catalogue / "shoes" / "3.png"
    with SearchIndex.open(db, method="exact") as exact, SearchIndex.open(db, method="hnsw") as hnsw:
        assert hnsw.index_method == "hnsw"
        assert [h.path for h in hnsw.query(query, k=8)] == [h.path for h in exact.query(query, k=8)]
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM index_cache").fetchone()[0] == 1


def test_an_exported_model_file_and_an_unknown_method_are_refused(search_bundle: Path, catalogue: Path,
                                                                  tmp_path: Path) -> None:
    from sightkit.errors import BundleError

    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx")
    with pytest.raises(BundleError, match="not an exported file"):
        SearchIndex.build(onnx, catalogue, tmp_path / "c.db")
    with pytest.raises(ConfigError, match="one of auto, exact, hnsw"):
        SearchIndex.build(search_bundle, catalogue, tmp_path / "c.db", method="ivf")
    assert not (tmp_path / "c.db").exists()
