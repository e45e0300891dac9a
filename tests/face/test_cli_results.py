"""What ``sightkit face`` tells a user (issue 12): no face found, --from-folders, the uncalibrated
threshold, tables at 80 columns, nothing left behind by a failed enroll."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def one_error_line(err: str) -> str:
    """The one ``error:`` line on stderr (other lines there may only be blank: progress bars end with one)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def people(tmp_path_factory, face_crop) -> Path:
    """people/<name>/*.png: ann and bob with two face crops each (bob also a photo without a face),
    and cyd with only a photo without a face and an unreadable file."""
    root = tmp_path_factory.mktemp("enroll") / "people"
    blank = Image.new("RGB", (60, 60), (128, 128, 128))
    for person, shift in {"ann": 0, "bob": 12}.items():
        (root / person).mkdir(parents=True)
        for i in range(2):
            crop = face_crop[shift + 3 * i: shift + 3 * i + 130, shift: shift + 130]
            Image.fromarray(np.ascontiguousarray(crop)).save(root / person / f"{i}.png")
    blank.save(root / "bob" / "blank.png")
    (root / "cyd").mkdir()
    blank.save(root / "cyd" / "blank.png")
    (root / "cyd" / "broken.jpg").write_bytes(b"not an image")
    return root


@pytest.fixture
def db(cli, tmp_path, astronaut_file) -> Path:
    path = tmp_path / "people.db"
    assert cli("face", "enroll", "eileen", astronaut_file, "-g", path, "--no-ladder")[0] == 0
    return path


def test_identify_says_no_face_found(cli, db, astronaut_file, no_face_file):
    code, out, err = cli("face", "identify", astronaut_file, no_face_file, "-g", db)
    assert code == 0
    row = next(line for line in out.splitlines() if "texture.png" in line)
    assert "no face found" in row and "eileen" in out
    code, out, _ = cli("face", "identify", no_face_file, "-g", db, "--json")
    assert code == 0
    assert json.loads(out)["images"] == [{"image": str(no_face_file), "faces": [], "reason": "no face found"}]


def test_enroll_without_a_face_writes_nothing(cli, tmp_path, db, no_face_file):
    new = tmp_path / "new.db"
    code, out, err = cli("face", "enroll", "nobody", no_face_file, "-g", new)
    assert code == 2 and out == "" and one_error_line(err).startswith("error: texture.png: no face found;")
    assert list(tmp_path.glob("new.db*")) == []
    before = cli("face", "list", "-g", db, "--json")[1]
    code, _, err = cli("face", "enroll", "nobody", no_face_file, "-g", db)
    assert code == 2 and one_error_line(err)
    assert cli("face", "list", "-g", db, "--json")[1] == before  # (the file's bytes may change: SQLite folds its log in)
    assert [p["name"] for p in json.loads(cli("face", "list", "-g", db, "--json")[1])["people"]] == ["eileen"]


def test_options_are_checked_before_the_gallery_is_made(cli, tmp_path, astronaut_file):
    for args in (["--pick", "smallest"], ["--upsample", "9"], ["--from-folders", tmp_path / "none"],
                 ["--from-folders", tmp_path]):
        code, out, err = cli("face", "enroll", "a", astronaut_file, "-g", tmp_path / "g.db", *args)
        assert code == 2 and one_error_line(err), args
    assert cli("face", "enroll", "-g", tmp_path / "g.db")[2].startswith("error: give the person's NAME and IMAGES")
    assert list(tmp_path.iterdir()) == []


def test_enroll_from_folders_then_calibrate(cli, tmp_path, people, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    gallery = tmp_path / "g.db"
    code, out, err = cli("face", "enroll", "--from-folders", people, "-g", gallery, "--no-ladder")
    assert code == 1 and "not enrolled, no usable image: cyd" in err  # cyd has no usable photo
    lines = [line for line in out.splitlines() if line.startswith("│ ") and line[2] != " "]  # first line of a row
    rows = {line.split("│")[1].strip(): line for line in lines}
    assert set(rows) == {"ann", "bob", "cyd"} and "no face found: blank.png" in rows["bob"]
    assert "not calibrated" in err
    listed = json.loads(cli("face", "list", "-g", gallery, "--json")[1])
    assert {p["name"]: p["images"] for p in listed["people"]} == {"ann": 2, "bob": 2}
    assert listed["calibrated"] is False

    code, out, err = cli("face", "enroll", "--from-folders", people, "-g", gallery, "--no-ladder", "--replace",
                         "--json")
    result = {p["name"]: p for p in json.loads(out)["people"]}
    assert result["bob"]["enrolled"] == 2 and result["bob"]["skipped"] == [{"image": "blank.png",
                                                                             "reason": "no face found"}]
    assert {s["image"] for s in result["cyd"]["skipped"]} == {"blank.png", "broken.jpg"}
    assert result["ann"]["images"] == 2  # replaced, not added

    probe = people / "ann" / "0.png"
    found = json.loads(cli("face", "identify", probe, "-g", gallery, "--json")[1])
    assert found["calibrated"] is False and found["threshold"] == 0.6
    code, _, err = cli("face", "calibrate", people, "-g", gallery, "--out", tmp_path / "cal")
    assert code == 0 and "calibrated threshold" in err
    code, out, err = cli("face", "identify", probe, "-g", gallery, "--json")
    found = json.loads(out)
    assert found["calibrated"] is True and found["threshold"] != 0.6 and "not calibrated" not in err


def test_nothing_usable_in_any_folder_is_an_error(cli, tmp_path, people):
    only_cyd = tmp_path / "only"
    (only_cyd / "cyd").mkdir(parents=True)
    for file in (people / "cyd").iterdir():
        (only_cyd / "cyd" / file.name).write_bytes(file.read_bytes())
    code, out, err = cli("face", "enroll", "--from-folders", only_cyd, "-g", tmp_path / "g.db", "--no-ladder")
    assert code == 2 and one_error_line(err).startswith("error: no usable face in any of the 2 images")
    assert not (tmp_path / "g.db").exists()


def test_tables_show_file_names_at_80_columns(cli, db, astronaut_file, no_face_file, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    deep = tmp_path / ("a-long-folder-name-" * 4) / "another-long-folder-name" / "photos"
    (deep / "cam1").mkdir(parents=True)
    (deep / "cam2").mkdir()
    first, second = deep / "cam1" / "eileen.png", deep / "cam2" / "texture.png"
    first.write_bytes(astronaut_file.read_bytes())
    second.write_bytes(no_face_file.read_bytes())
    for command in ("identify", "detect"):
        args = ["-g", db] if command == "identify" else []
        code, out, _ = cli("face", command, first, second, *args)
        assert code == 0
        assert max(len(line) for line in out.splitlines()) <= 80
        assert "cam1/eileen.png" in out and "cam2/texture.png" in out
        assert "a-long-folder" not in out and "…" not in out
