"""Tests of the model bundle: round trips, refusals, atomic overwrite, no pickle."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from sightkit import __version__
from sightkit.core import bundle as bundle_mod
from sightkit.core.bundle import FORMAT_VERSION, bundle_extras, load_bundle, read_extra, read_meta, save_bundle
from sightkit.errors import BundleError


def _state(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "features.0.weight": torch.randn(4, 3, 3, 3, generator=gen),
        "features.1.running_mean": torch.randn(4, generator=gen),
        "features.1.num_batches_tracked": torch.tensor(7),
        "head.weight": torch.randn(2, 4, generator=gen).t(),  # non-contiguous on purpose
        "half": torch.randn(5, generator=gen).half(),
    }


META = {"task": "classify", "classes": ["cat", "dog"], "preprocessing": {"size": 16, "mean": [0.5], "std": [0.25]},
        "calibration": {"temperature": 1.5}, "path_value": Path("a/b")}


def _assert_same_state(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert set(got) == set(want)
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        assert torch.equal(got[key], want[key]), key


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp"))


@pytest.mark.parametrize("name", ["model", "model.sightkit"])
def test_round_trip_dir_and_zip(tmp_path: Path, name: str):
    state = _state()
    path = save_bundle(tmp_path / "run" / name, state, META)  # creates the parent folder
    assert path == tmp_path / "run" / name
    assert path.is_dir() == (name == "model")
    if name.endswith(".sightkit"):
        assert sorted(zipfile.ZipFile(path).namelist()) == ["bundle.json", "weights.safetensors"]
    loaded, meta = load_bundle(path, task="classify")
    _assert_same_state(loaded, state)
    assert meta["format_version"] == FORMAT_VERSION and meta["sightkit_version"] == __version__
    assert meta["created"]
    assert {k: v for k, v in meta.items() if k in META} == {**META, "path_value": "a/b"}
    assert read_meta(path) == meta
    assert _leftovers(path.parent) == []


def test_meta_needs_a_task(tmp_path: Path):
    with pytest.raises(BundleError, match="needs a 'task'"):
        save_bundle(tmp_path / "m", _state(), {"classes": []})
    assert not (tmp_path / "m").exists()


def test_unserialisable_meta_is_refused_before_writing(tmp_path: Path):
    with pytest.raises(TypeError, match="cannot store object"):
        save_bundle(tmp_path / "m", _state(), {"task": "classify", "bad": object()})
    assert list(tmp_path.iterdir()) == []


# --- refusals ---------------------------------------------------------------------------

def _rewrite_meta(path: Path, **changes) -> None:
    meta = json.loads((path / "bundle.json").read_text())
    meta.update(changes)
    (path / "bundle.json").write_text(json.dumps(meta))


def test_newer_format_version_is_refused(tmp_path: Path):
    path = save_bundle(tmp_path / "m", _state(), META)
    _rewrite_meta(path, format_version=FORMAT_VERSION + 98)
    with pytest.raises(BundleError, match=rf"m: bundle format version {FORMAT_VERSION + 98} is newer.*upgrade"):
        read_meta(path)
    with pytest.raises(BundleError, match="newer"):
        load_bundle(path)
    _rewrite_meta(path, format_version="1")  # not an integer either
    with pytest.raises(BundleError, match="format version"):
        read_meta(path)


def test_bundle_of_another_task_is_refused(tmp_path: Path):
    path = save_bundle(tmp_path / "faces.sightkit", _state(), {**META, "task": "face"})
    assert read_meta(path)["task"] == "face"  # reading the meta alone is fine
    with pytest.raises(BundleError, match=r"faces.sightkit: this is a 'face' bundle, not a 'classify' bundle"):
        load_bundle(path, task="classify")
    state, meta = load_bundle(path, task="face")
    assert meta["task"] == "face"


def test_missing_bundle(tmp_path: Path):
    with pytest.raises(BundleError, match=r"nothing: no such bundle"):
        read_meta(tmp_path / "nothing")
    with pytest.raises(BundleError, match=r"nothing.sightkit: no such bundle"):
        load_bundle(tmp_path / "nothing.sightkit")


def test_folder_that_is_not_a_bundle(tmp_path: Path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    with pytest.raises(BundleError, match=r"photos: missing bundle.json; is this a sightkit bundle\?"):
        load_bundle(tmp_path / "photos")


def test_bundle_without_weights(tmp_path: Path):
    path = save_bundle(tmp_path / "m", _state(), META)
    (path / "weights.safetensors").unlink()
    assert read_meta(path)["task"] == "classify"
    with pytest.raises(BundleError, match="m: missing weights.safetensors"):
        load_bundle(path)


def test_corrupt_meta_and_weights(tmp_path: Path):
    path = save_bundle(tmp_path / "m", _state(), META)
    (path / "weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(BundleError, match="m: weights.safetensors is corrupt"):
        load_bundle(path)
    (path / "bundle.json").write_text("{ nope")
    with pytest.raises(BundleError, match="m: bundle.json is not valid JSON"):
        read_meta(path)
    (path / "bundle.json").write_text('{"classes": ["a"]}')
    with pytest.raises(BundleError, match="has no 'task'"):
        read_meta(path)


def test_corrupt_zip(tmp_path: Path):
    path = tmp_path / "m.sightkit"
    path.write_bytes(b"PK\x03\x04 but then garbage")
    with pytest.raises(BundleError, match="m.sightkit: not a sightkit bundle"):
        load_bundle(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "hi")
    with pytest.raises(BundleError, match="m.sightkit: missing bundle.json"):
        read_meta(path)


# --- atomic overwrite -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["model", "model.sightkit"])
def test_overwrite_replaces_an_existing_bundle(tmp_path: Path, name: str):
    path = save_bundle(tmp_path / name, _state(0), {**META, "version": "old"})
    save_bundle(path, _state(1), {**META, "version": "new"})
    state, meta = load_bundle(path)
    _assert_same_state(state, _state(1))
    assert meta["version"] == "new"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["model", "model.sightkit"])
def test_failed_write_leaves_the_old_bundle_intact(tmp_path: Path, name: str, monkeypatch):
    path = save_bundle(tmp_path / name, _state(0), {**META, "version": "old"})
    before = sorted(os.listdir(tmp_path))

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if name.endswith(".sightkit"):
        monkeypatch.setattr(bundle_mod.zipfile.ZipFile, "writestr", disk_full)
    else:
        real_write = Path.write_bytes

        def full_after_first(self, data):  # the first member is written, the next fails
            if any(self.parent.iterdir()):
                disk_full()
            return real_write(self, data)

        monkeypatch.setattr(Path, "write_bytes", full_after_first)
    with pytest.raises(OSError, match="No space left"):
        save_bundle(path, _state(1), {**META, "version": "new"})
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == before  # no temporary files or folders left
    state, meta = load_bundle(path)
    _assert_same_state(state, _state(0))
    assert meta["version"] == "old"


def test_failed_swap_restores_the_old_bundle_folder(tmp_path: Path, monkeypatch):
    path = save_bundle(tmp_path / "model", _state(0), {**META, "version": "old"})
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if Path(dst) == path and Path(src).name.endswith(".tmp"):  # moving the new bundle in fails
            raise OSError(5, "I/O error")
        real_replace(src, dst)

    monkeypatch.setattr(bundle_mod.os, "replace", replace)
    with pytest.raises(OSError, match="I/O error"):
        save_bundle(path, _state(1), {**META, "version": "new"})
    monkeypatch.undo()
    assert calls, "save_bundle no longer swaps with os.replace; update this test"
    state, meta = load_bundle(path)
    _assert_same_state(state, _state(0))
    assert meta["version"] == "old"
    assert _leftovers(tmp_path) == []


# --- no pickle ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["model", "model.sightkit"])
def test_loading_never_unpickles(tmp_path: Path, name: str, monkeypatch):
    path = save_bundle(tmp_path / name, _state(), META)

    def forbidden(*args, **kwargs):
        raise AssertionError("a bundle must load without pickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    state, meta = load_bundle(path, task="classify")
    _assert_same_state(state, _state())


def test_files_are_plain_json_and_safetensors(tmp_path: Path):
    path = save_bundle(tmp_path / "m", _state(), META)
    meta = json.loads((path / "bundle.json").read_text(encoding="utf-8"))  # plain JSON, human readable
    assert meta["task"] == "classify"
    raw = (path / "weights.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])  # the safetensors layout: length + JSON header + data
    assert set(header) - {"__metadata__"} == set(_state())
    assert b"\x80\x04" not in raw[:2] and not raw.startswith(b"PK")  # neither a pickle nor a torch zip


@pytest.mark.parametrize("name", ["model", "model.sightkit"])
def test_extra_files_round_trip_and_are_carried(tmp_path: Path, name: str):
    extras = {"dataset.json": b'{"root": "/data"}'}
    path = save_bundle(tmp_path / name, _state(0), META, extras=extras)
    assert read_extra(path, "dataset.json") == b'{"root": "/data"}'
    assert read_extra(path, "history.json") is None
    assert bundle_extras(path) == extras
    state, meta = load_bundle(path)  # extras do not disturb loading
    _assert_same_state(state, _state(0))


@pytest.mark.parametrize("bad", ["bundle.json", "weights.safetensors", "../x.json", "x.bin"])
def test_extra_file_names_are_checked(tmp_path: Path, bad: str):
    with pytest.raises(BundleError, match="bundle extra file"):
        save_bundle(tmp_path / "model", _state(0), META, extras={bad: b"{}"})
    assert not (tmp_path / "model").exists()
