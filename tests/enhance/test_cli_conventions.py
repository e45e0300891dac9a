"""``sightkit enhance`` through the real entry point: one ``error:`` line (exit 2) that names the
file or folder once, no empty output or run folder after a failure, results on stdout, and
``--help`` defaults that are the real ones."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from enhance_helpers import smooth_image

from sightkit.cli import enhance
from sightkit.tasks.enhance.config import TrainConfig
from sightkit.tasks.enhance.tiling import DEFAULT_TILE


def _one_error(code: int, out: str, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    return lines[0]


@pytest.fixture
def model(bundle_factory) -> Path:
    return bundle_factory(scale=2)


def test_an_unreadable_input_is_one_error_naming_it_once_and_leaves_no_folder(cli, model, tmp_path) -> None:
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"not an image")
    out = tmp_path / "big"
    line = _one_error(*cli("enhance", "upscale", fake, "--scale", 2, "--model", model, "--out", out))
    assert line == f"error: {fake}: not a readable image (unknown format)"
    assert not out.exists()


def test_no_image_files_names_the_folder(cli, model, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "a" / "big"
    line = _one_error(*cli("enhance", "upscale", empty, "--scale", 2, "--model", model, "--out", out))
    assert line == f"error: no image files to upscale in {empty}"
    assert not (tmp_path / "a").exists()


def test_every_input_failing_is_one_error_and_leaves_no_folder(cli, model, tmp_path) -> None:
    smooth_image(8, 8).save(tmp_path / "tiny.png")  # below the receptive field
    (tmp_path / "fake.png").write_bytes(b"nope")
    out = tmp_path / "big"
    line = _one_error(*cli("enhance", "upscale", tmp_path / "tiny.png", tmp_path / "fake.png", "--scale", 2,
                           "--model", model, "--out", out))
    assert line.startswith("error: none of the 2 images could be upscaled (first: ")
    assert "receptive field" in line and line.count("tiny.png") == 1
    assert not out.exists()


def test_results_on_stdout_failures_on_stderr(cli, model, tmp_path) -> None:
    smooth_image(30, 30).save(tmp_path / "a.png")
    (tmp_path / "fake.png").write_bytes(b"nope")
    out = tmp_path / "big"
    code, stdout, stderr = cli("enhance", "upscale", tmp_path / "a.png", tmp_path / "fake.png", "--scale", 2,
                               "--model", model, "--out", out)
    assert code == 1
    assert stdout.splitlines() == [f"{tmp_path / 'a.png'} -> {out / 'a.png'} (60x60)"]
    notes = " ".join(stderr.split())
    assert f"{tmp_path / 'fake.png'}: not a readable image" in notes and notes.count("fake.png") == 1
    assert "1 of 2 images could not be upscaled" in notes


def test_evaluate_prints_its_table_on_stdout(cli, model, hr_folder, tmp_path) -> None:
    code, stdout, stderr = cli("enhance", "evaluate", model, hr_folder, "--out", tmp_path / "eval")
    assert code == 0, stderr
    assert "psnr_y" in stdout and f"report: {tmp_path / 'eval' / 'report.html'}" in stdout
    assert "psnr_y" not in stderr


@pytest.mark.parametrize(("option", "named"), [
    (["--arch", "nope"], "nope"),
    (["--scale", "5"], "--scale"),
    (["--gan-epochs", "1", "--feature-net", "missing-vgg.pth"], "--feature-net 'missing-vgg.pth'"),
])
def test_train_options_fail_before_the_data_is_read(cli, tmp_path, option, named) -> None:
    run = tmp_path / "run"
    line = _one_error(*cli("enhance", "train", tmp_path / "no-such-data", "--out", run, "--no-progress", *option))
    assert named in line and "no-such-data" not in line
    assert not run.exists()


def test_images_too_small_for_the_crop_are_one_error_naming_the_first(cli, tmp_path) -> None:
    data = tmp_path / "hr"
    data.mkdir()
    smooth_image(40, 40).save(data / "a.png")
    run = tmp_path / "runs" / "x"
    line = _one_error(*cli("enhance", "train", data, "--scale", 2, "--patch", 64, "--out", run, "--no-progress"))
    assert line == (f"error: HR_FOLDER {data}: none of its 1 images can be used (first: {data / 'a.png'}: "
                    "too small (40x40 px; at least 64x64 needed))")
    assert not (tmp_path / "runs").exists()


def test_a_run_that_fails_while_training_is_removed(cli, hr_folder, tmp_path, monkeypatch) -> None:
    from sightkit.errors import EnhanceError

    def failing_stage(*args, **kwargs):
        raise EnhanceError("stage failed")

    monkeypatch.setattr("sightkit.tasks.enhance.train._fit_stage", failing_stage)
    run = tmp_path / "runs" / "x"
    code, out, err = cli("enhance", "train", hr_folder, "--scale", 2, "--patch", 16, "--out", run, "--no-progress")
    assert code == 2 and out == "" and err.strip().splitlines()[-1] == "error: stage failed"  # after progress notes
    assert not (tmp_path / "runs").exists()


def test_train_help_defaults_are_the_config_defaults() -> None:
    options = inspect.signature(enhance.train).parameters
    for name in enhance._CONFIG_OPTIONS:
        assert options[name].default.default == TrainConfig.model_fields[name].default, name
    assert inspect.signature(enhance.upscale).parameters["tile"].default.default == DEFAULT_TILE
