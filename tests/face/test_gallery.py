"""The SQLite gallery: enroll, identify, verify, list, remove; bad input and concurrency."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from sightkit.errors import FaceError, GalleryError, ImageError
from sightkit.tasks.face.api import FaceGallery, verify_images
from sightkit.tasks.face.gallery import EmbeddingRow, GalleryStore
from sightkit.tasks.face.pipeline import FaceOptions

FAST = FaceOptions(fallback=False)


@pytest.fixture
def gallery(tmp_path, astronaut_file):
    g = FaceGallery(tmp_path / "people.db", options=FAST, ladder=False)
    g.enroll("eileen", [astronaut_file])
    yield g
    g.close()


def test_enroll_identify_list_remove(gallery, astronaut, tmp_path):
    assert oct(stat.S_IMODE(os.stat(tmp_path / "people.db").st_mode)) == "0o600"
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    found = gallery.identify(mirrored)
    assert [f.name for f in found] == ["eileen"] and found[0].distance < 0.3
    assert gallery.identify(mirrored, threshold=1e-4)[0].name == "unknown"
    assert [p.name for p in gallery.people()] == ["eileen"]
    assert gallery.remove("eileen") == 1
    assert gallery.people() == [] and gallery.store.embeddings()[0].shape == (0, 128)
    with pytest.raises(GalleryError, match="no person named 'eileen'"):
        gallery.remove("eileen")


def test_enrolling_twice_adds_and_replace_replaces(gallery, astronaut):
    gallery.enroll("eileen", [astronaut[:, ::-1].copy()])
    assert gallery.people()[0].embeddings == 2
    gallery.enroll("eileen", [astronaut], replace=True)
    assert gallery.people()[0].embeddings == 1


def test_no_face_several_faces_and_tiny_images_are_refused(gallery, no_face_file, two_faces_file):
    with pytest.raises(FaceError, match="texture.png: no face found"):
        gallery.enroll("nobody", [no_face_file])
    with pytest.raises(FaceError, match="2 faces found; pass --pick largest"):
        gallery.enroll("twins", [two_faces_file])
    assert {p.name for p in gallery.people()} == {"eileen"}  # nothing half-enrolled
    gallery.enroll("twins", [two_faces_file], pick="largest")
    with pytest.raises(FaceError, match="too small"):
        gallery.enroll("dot", [np.zeros((10, 10, 3), np.uint8)])
    with pytest.raises(ImageError, match="not found"):
        gallery.enroll("ghost", ["missing.jpg"])


def test_grayscale_rgba_and_16_bit_images(gallery, face_crop, tmp_path):
    grey = Image.fromarray(face_crop).convert("L")
    rgba = Image.fromarray(face_crop).convert("RGBA")
    deep = (np.asarray(grey).astype(np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    for source in (grey, rgba, tmp_path / "deep.png"):
        assert gallery.identify(source)[0].name == "eileen"


def test_every_face_is_identified(gallery, two_faces_file):
    found = gallery.identify(two_faces_file, top_k=3)
    assert [f.name for f in found] == ["eileen", "eileen"]
    assert len(found[0].matches) == 1  # only one person enrolled


def test_verify(gallery, astronaut, face_crop):
    same = gallery.verify(astronaut, face_crop)
    assert same.same and same.threshold == 0.6
    assert not gallery.verify(astronaut, face_crop, threshold=1e-6).same
    small = np.asarray(Image.fromarray(astronaut).resize((224, 224), Image.Resampling.BICUBIC))
    matched = verify_images(astronaut, small, options=FaceOptions(upsample=1), ladder=True, pick="largest")
    assert matched.level > 0 and matched.same


def test_threshold_is_stored(gallery):
    gallery.set_threshold(0.45, {"eer": 0.01})
    assert FaceGallery(gallery.path).threshold == 0.45


def test_not_a_gallery(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(GalleryError, match="not a sightkit face gallery"):
        FaceGallery(text)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(GalleryError, match="another kind of SQLite|other SQLite"):
        FaceGallery(other)
    with pytest.raises(GalleryError, match="gallery not found"):
        FaceGallery(tmp_path / "missing.db", create=False)


def test_gallery_from_a_newer_version(tmp_path):
    path = tmp_path / "new.db"
    GalleryStore.open(path, create=True).close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.commit()
    connection.close()
    with pytest.raises(GalleryError, match="newer sightkit"):
        FaceGallery(path)


def test_wal_mode_and_secure_delete(tmp_path):
    store = GalleryStore.open(tmp_path / "g.db", create=True)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.add("a", [EmbeddingRow("a.jpg", 0.0, np.ones(128, np.float32))])
    store.remove("a")
    store.close()
    assert np.ones(128, "<f4").tobytes()[:16] not in (tmp_path / "g.db").read_bytes()


def test_concurrent_enroll_and_identify_processes(tmp_path):
    """A writer process enrolls while a reader process searches: nothing lost, nothing corrupt."""
    path = tmp_path / "busy.db"
    GalleryStore.open(path, create=True).close()
    writer = textwrap.dedent(f"""
        import numpy as np
        from sightkit.tasks.face.gallery import EmbeddingRow, GalleryStore
        store = GalleryStore.open({str(path)!r})
        for i in range(40):
            store.add(f"p{{i}}", [EmbeddingRow("x.jpg", 0.0, np.full(128, i, np.float32))])
    """)
    reader = textwrap.dedent(f"""
        from sightkit.tasks.face.gallery import GalleryStore
        from sightkit.tasks.face.index import PersonIndex
        store = GalleryStore.open({str(path)!r})
        for _ in range(60):
            vectors, names = store.embeddings(0.0)
            assert vectors.shape[0] == len(names)
            PersonIndex(vectors, names).search(vectors[0] if len(names) else vectors.sum(0), 3)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code]) for code in (writer, reader)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = GalleryStore.open(path)
    assert len(store.people()) == 40
    assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_failed_first_enrollment_leaves_no_file(tmp_path, no_face_file):
    path = tmp_path / "new.db"
    gallery = FaceGallery(path, options=FAST, ladder=False)
    assert not gallery.calibrated and gallery.threshold == 0.6 and not path.exists()
    with pytest.raises(FaceError, match="no face found"):
        gallery.enroll("nobody", [no_face_file])
    gallery.close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(GalleryError, match="folder .* does not exist"):
        FaceGallery(tmp_path / "missing" / "g.db")


def test_enroll_many_skips_unusable_images_and_says_why(gallery, astronaut, no_face_file, two_faces_file):
    results = gallery.enroll_many({"ann": [astronaut, no_face_file], "bo": [two_faces_file, "missing.jpg"]})
    assert [(r.name, r.enrolled, r.images) for r in results] == [("ann", 1, 1), ("bo", 0, 0)]
    assert results[0].skipped == [("texture.png", "no face found")]
    assert [reason for _, reason in results[1].skipped] == ["2 faces found", "file not found"]
    assert {p.name for p in gallery.people()} == {"eileen", "ann"}
    with pytest.raises(FaceError, match="no usable face in any of the 1 images"):
        gallery.enroll_many({"cy": [no_face_file]})
