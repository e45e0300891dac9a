"""``sightkit enhance train|evaluate|upscale|models`` on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from enhance_helpers import smooth_image
from PIL import Image
from typer.testing import CliRunner

from sightkit.cli.enhance import app
from sightkit.errors import EnhanceError

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_train_then_evaluate_json(hr_folder: Path, tmp_path: Path) -> None:
    result = _invoke("train", hr_folder, "--scale", 2, "--patch", 16, "--batch-size", 2, "--steps", 2, "--epochs", 1,
                     "--features", 8, "--blocks", 2, "--val-fraction", 0, "--device", "cpu", "--out", tmp_path / "run",
                     "--no-progress", "--json")
    assert result.exit_code == 0, result.output
    bundle = json.loads(result.stdout)["bundles"]["psnr"]
    result = _invoke("evaluate", bundle, hr_folder, "--scale", 2, "--out", tmp_path / "eval", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"psnr_y", "ssim_y", "bicubic_psnr_y", "sharpness"} <= set(report) and report["n"] == 4
    assert (tmp_path / "eval" / "report.html").is_file() and (tmp_path / "eval" / "crops.png").is_file()


def test_evaluate_refuses_a_scale_the_model_lacks(bundle_factory, hr_folder: Path) -> None:
    result = _invoke("evaluate", bundle_factory(scale=2), hr_folder, "--scale", 4)
    assert isinstance(result.exception, EnhanceError) and "upscales x2" in str(result.exception)


def test_upscale_json_and_progress(bundle_factory, tmp_path: Path) -> None:
    smooth_image(30, 30).save(tmp_path / "a.png")
    smooth_image(8, 8).save(tmp_path / "tiny.png")
    result = _invoke("upscale", tmp_path / "a.png", tmp_path / "tiny.png", "--scale", 2,
                     "--model", bundle_factory(scale=2), "--out", tmp_path / "out", "--json")
    assert result.exit_code == 1  # one image failed
    records = json.loads(result.stdout)
    assert records[0]["output_size"] == [60, 60] and "receptive field" in records[1]["error"]
    assert Image.open(tmp_path / "out" / "a.png").size == (60, 60)


def test_unshipped_scale_is_a_clear_error(tmp_path: Path) -> None:
    smooth_image(30, 30).save(tmp_path / "a.png")
    result = _invoke("upscale", tmp_path / "a.png", "--scale", 3, "--out", tmp_path / "out")
    assert isinstance(result.exception, EnhanceError) and "ships x2 and x4" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_models_lists_architectures() -> None:
    result = _invoke("models")
    assert result.exit_code == 0 and "lightsr" in result.stdout


@pytest.mark.parametrize("option", [["--scale", "5"], ["--arch", "nope"]])
def test_bad_train_options(hr_folder: Path, tmp_path: Path, option: list[str]) -> None:
    result = _invoke("train", hr_folder, *option, "--out", tmp_path / "run", "--no-progress")
    assert result.exit_code != 0 and result.exception is not None
