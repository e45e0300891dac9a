"""The ``sightkit face`` commands, through the Typer sub-app."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image
from typer.testing import CliRunner

from sightkit.cli.face import app
from sightkit.errors import FaceError, GalleryError

runner = CliRunner()


@pytest.fixture
def db(tmp_path, astronaut_file):
    path = tmp_path / "people.db"
    result = runner.invoke(app, ["enroll", "eileen", str(astronaut_file), "--gallery", str(path), "--no-ladder", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"name": "eileen", "images": 1, "embeddings": 1}
    return path


def test_enroll_list_identify_verify_remove(db, astronaut_file, face_crop, tmp_path):
    crop = tmp_path / "crop.png"
    Image.fromarray(face_crop).save(crop)
    listed = json.loads(runner.invoke(app, ["list", "-g", str(db), "--json"]).stdout)
    assert [p["name"] for p in listed["people"]] == ["eileen"] and listed["threshold"] == 0.6
    found = json.loads(runner.invoke(app, ["identify", str(crop), "-g", str(db), "--json"]).stdout)
    assert found[0]["name"] == "eileen" and found[0]["top"][0]["name"] == "eileen"
    table = runner.invoke(app, ["identify", str(crop), "-g", str(db), "--threshold", "0.0001"])
    assert table.exit_code == 0 and "unknown" in table.stdout
    verdict = json.loads(runner.invoke(app, ["verify", str(astronaut_file), str(crop), "--json"]).stdout)
    assert verdict["same"] is True and verdict["threshold"] == 0.6
    removed = json.loads(runner.invoke(app, ["remove", "eileen", "-g", str(db), "--json"]).stdout)
    assert removed == {"name": "eileen", "embeddings_removed": 1}


def test_detect_writes_chips(astronaut_file, tmp_path):
    result = runner.invoke(app, ["detect", str(astronaut_file), "--landmarks", "68", "--chips", str(tmp_path / "c"), "--json"])
    rows = json.loads(result.stdout)
    assert len(rows) == 1 and len(rows[0]["landmarks"]) == 68
    assert Image.open(tmp_path / "c" / "eileen_face0.png").size == (150, 150)


def test_errors_are_sightkit_errors(db, no_face_file, tmp_path):
    result = runner.invoke(app, ["enroll", "x", str(no_face_file), "-g", str(db)])
    assert isinstance(result.exception, FaceError)
    result = runner.invoke(app, ["list", "-g", str(tmp_path / "none.db")])
    assert isinstance(result.exception, GalleryError) and "gallery not found" in str(result.exception)


def test_unreadable_image_is_listed_not_fatal(db, tmp_path, astronaut_file):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    dot = tmp_path / "dot.png"
    Image.new("RGB", (10, 10)).save(dot)
    result = runner.invoke(app, ["identify", str(broken), str(dot), str(astronaut_file), "-g", str(db), "--json"])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert "error" in rows[0] and "too small" in rows[1]["error"] and rows[2]["name"] == "eileen"


def test_calibrate_and_evaluate_on_a_tiny_dataset(db, face_crop, tmp_path):
    """Plumbing only: three 'people' made of shifted crops of two real faces and a flat image."""
    data = tmp_path / "people"
    for person, (top, left) in {"a": (0, 0), "b": (20, 10), "c": (5, 30)}.items():
        (data / person).mkdir(parents=True)
        for i in range(3):
            crop = face_crop[top + 2 * i: top + 2 * i + 120, left: left + 110]
            Image.fromarray(crop[:, ::-1] if i % 2 else crop).save(data / person / f"{i}.png")
    result = runner.invoke(app, ["calibrate", str(data), "-g", str(db), "--out", str(tmp_path / "cal"), "--json"])
    assert result.exit_code == 0, result.output
    cal = json.loads(result.stdout)
    assert {"eer", "tar_at_far_0.01", "tar_at_far_0.001", "threshold"} <= set(cal)
    listed = json.loads(runner.invoke(app, ["list", "-g", str(db), "--json"]).stdout)
    assert listed["threshold"] == pytest.approx(cal["threshold"])
    result = runner.invoke(app, ["evaluate", str(data), "--enroll", "1", "--unknown", "1", "--no-ladder",
                                 "--out", str(tmp_path / "ev"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert 0 <= report["rank1"] <= 1 and report["probes"] == 6
    assert (tmp_path / "ev" / "report.html").exists() and (tmp_path / "ev" / "roc.png").exists()
    shutil.rmtree(data)
