"""``sightkit explain`` through the real entry point: results on stdout, notes on stderr, one
``error:`` line with exit code 2, options checked before the model loads, no leftovers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sightkit.explain.choices import METHODS


def _one_error(code: int, out: str, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    return lines[0]


def test_only_unreadable_images_is_one_error_and_leaves_no_folder(cli, tiny_bundle, tmp_path) -> None:
    broken = tmp_path / "fake.jpg"
    broken.write_bytes(b"not an image")
    out = tmp_path / "why"
    line = _one_error(*cli("explain", tiny_bundle, broken, "--out", out))
    assert line == f"error: {broken}: not a readable image (unknown format); nothing to explain"
    assert not out.exists()

    other = tmp_path / "other.png"
    other.write_bytes(b"nope")
    line = _one_error(*cli("explain", tiny_bundle, broken, other, "--out", out / "nested"))
    assert line.startswith("error: none of the 2 images could be read (first: ") and line.count(str(broken)) == 1
    assert not out.exists()


@pytest.mark.parametrize(("option", "named"), [
    (["--method", "lime"], "--method 'lime': choose one of gradcam,"),
    (["--baseline", "white"], "--baseline 'white'"),
    (["--curve-baseline", "noise"], "--curve-baseline 'noise'"),
    (["--device", "tpu"], "--device 'tpu'"),
    (["--batch-size", "0"], "--batch-size 0"),
])
def test_bad_options_fail_before_the_bundle_or_images_are_read(cli, tmp_path, option, named) -> None:
    out = tmp_path / "why"
    line = _one_error(*cli("explain", tmp_path / "no-bundle", tmp_path / "no-images", "--out", out, *option))
    assert named in line and not out.exists()


def test_results_on_stdout_and_progress_notes_on_stderr(cli, tiny_bundle, patch_dataset, tmp_path) -> None:
    images = sorted((patch_dataset / "left").glob("*.png"))[:2]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    out = tmp_path / "why"
    code, stdout, stderr = cli("explain", tiny_bundle, *images, broken, "--out", out, "--no-faithfulness")
    assert code == 1  # one image skipped
    assert "explanations" in stdout and f"browse {out / 'index.html'}" in stdout and "skipped" not in stdout
    notes = " ".join(stderr.split())  # rich wraps long notes at 80 columns
    assert f"skipped {broken}: not a readable image" in notes and "measure" not in notes
    assert notes.count(str(broken)) == 1

    code, stdout, _ = cli("explain", tiny_bundle, *images, "--out", tmp_path / "j", "--json", "--method", "saliency")
    data = json.loads(stdout)
    assert code == 0 and data["summary"]["n"] == 2 and Path(data["index"]).is_file()


def test_help_lists_every_method_in_full_at_80_columns(cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli("explain", "--help")
    text = " ".join(out.replace("│", " ").split())
    assert code == 0 and "…" not in out
    assert all(name in text for name in METHODS)
    assert "[default: chosen for the model]" in text and "[default: blur]" in text
