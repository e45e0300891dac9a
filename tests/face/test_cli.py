"""The ``sightkit face`` commands through the real entry point (``cli`` fixture: exit code, stdout, stderr)."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image


@pytest.fixture
def db(cli, tmp_path, astronaut_file):
    path = tmp_path / "people.db"
    code, out, err = cli("face", "enroll", "eileen", astronaut_file, "--gallery", path, "--no-ladder", "--json")
    assert code == 0, err
    assert json.loads(out)["people"] == [{"name": "eileen", "enrolled": 1, "skipped": [], "images": 1, "embeddings": 1}]
    return path


def test_enroll_list_identify_verify_remove(cli, db, astronaut_file, face_crop, tmp_path):
    crop = tmp_path / "crop.png"
    Image.fromarray(face_crop).save(crop)
    listed = json.loads(cli("face", "list", "-g", db, "--json")[1])
    assert [p["name"] for p in listed["people"]] == ["eileen"] and listed["threshold"] == 0.6
    found = json.loads(cli("face", "identify", crop, "-g", db, "--json")[1])
    face = found["images"][0]["faces"][0]
    assert face["name"] == "eileen" and face["top"][0]["name"] == "eileen"
    code, out, _ = cli("face", "identify", crop, "-g", db, "--threshold", "0.0001")
    assert code == 0 and "unknown" in out
    verdict = json.loads(cli("face", "verify", astronaut_file, crop, "--json")[1])
    assert verdict["same"] is True and verdict["threshold"] == 0.6 and verdict["calibrated"] is False
    removed = json.loads(cli("face", "remove", "eileen", "-g", db, "--json")[1])
    assert removed == {"name": "eileen", "embeddings_removed": 1}


def test_detect_writes_chips(cli, astronaut_file, tmp_path):
    code, out, _ = cli("face", "detect", astronaut_file, "--landmarks", "68", "--chips", tmp_path / "c", "--json")
    images = json.loads(out)["images"]
    assert code == 0 and len(images) == 1 and len(images[0]["faces"][0]["landmarks"]) == 68
    assert Image.open(tmp_path / "c" / "eileen_face0.png").size == (150, 150)


def test_missing_gallery_is_one_error_line(cli, tmp_path):
    code, out, err = cli("face", "list", "-g", tmp_path / "none.db")
    assert code == 2 and out == "" and err.startswith("error: ") and "gallery not found" in err and err.count("\n") == 1


def test_unreadable_image_is_listed_not_fatal(cli, db, tmp_path, astronaut_file):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    dot = tmp_path / "dot.png"
    Image.new("RGB", (10, 10)).save(dot)
    code, out, err = cli("face", "identify", broken, dot, astronaut_file, "-g", db, "--json")
    assert code == 1 and "2 image(s) could not be used" in err
    images = json.loads(out)["images"]
    assert "error" in images[0] and "too small" in images[1]["error"] and images[2]["faces"][0]["name"] == "eileen"


def test_calibrate_and_evaluate_on_a_tiny_dataset(cli, db, face_crop, tmp_path):
    """Plumbing only: three 'people' made of shifted crops of one real face."""
    data = tmp_path / "people"
    for person, (top, left) in {"a": (0, 0), "b": (20, 10), "c": (5, 30)}.items():
        (data / person).mkdir(parents=True)
        for i in range(3):
            crop = face_crop[top + 2 * i: top + 2 * i + 120, left: left + 110]
            Image.fromarray(crop[:, ::-1] if i % 2 else crop).save(data / person / f"{i}.png")
    code, out, err = cli("face", "calibrate", data, "-g", db, "--out", tmp_path / "cal", "--json")
    assert code == 0, err
    cal = json.loads(out)
    assert {"eer", "tar_at_far_0.01", "tar_at_far_0.001", "threshold"} <= set(cal)
    listed = json.loads(cli("face", "list", "-g", db, "--json")[1])
    assert listed["threshold"] == pytest.approx(cal["threshold"]) and listed["calibrated"] is True
    code, out, err = cli("face", "evaluate", data, "--enroll", "1", "--unknown", "1", "--no-ladder",
                         "--out", tmp_path / "ev", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert 0 <= report["rank1"] <= 1 and report["probes"] == 6
    assert (tmp_path / "ev" / "report.html").exists() and (tmp_path / "ev" / "roc.png").exists()
    code, out, err = cli("face", "evaluate", data, "--enroll", "1", "--unknown", "1", "--no-ladder", "--degrade",
                         "--frame", "--out", tmp_path / "ev-frame", "--json")
    assert code == 0, err
    framed = json.loads(out)
    assert framed["degrade_protocol"] == "frame" and 0 <= framed["lowres16_rank1"] <= 1
    shutil.rmtree(data)
