"""Training runs end to end on tiny data: both stages, bundles, resume, clear config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sightkit.core.bundle import read_meta
from sightkit.errors import ConfigError, DataError
from sightkit.tasks.enhance.api import Upscaler
from sightkit.tasks.enhance.config import make_config
from sightkit.tasks.enhance.data import PatchDataset, read_hr_folder

TINY = dict(scale=2, patch=16, batch_size=2, steps=2, epochs=1, warmup_steps=0,
            arch_args={"features": 8, "blocks": 2}, device="cpu")


def test_patch_dataset_gives_aligned_lr_hr_crops(hr_folder: Path) -> None:
    images = [im for _, im in read_hr_folder(hr_folder)[0]]
    ds = PatchDataset(images, scale=4, patch=16, channels=1, length=5)
    lr, hr = ds[0]
    assert lr.shape == (1, 4, 4) and hr.shape == (1, 16, 16)
    assert abs(float(lr.mean()) - float(hr.mean())) < 0.05  # same place in the image
    rgb_lr, _ = PatchDataset(images, scale=2, patch=16, channels=3, length=5, degradation="real")[0]
    assert rgb_lr.shape == (3, 8, 8)


def test_unreadable_hr_files_are_skipped(hr_folder: Path) -> None:
    (hr_folder / "broken.png").write_bytes(b"garbage")
    images, skipped = read_hr_folder(hr_folder)
    assert len(images) == 4 and skipped[0][0].name == "broken.png"
    with pytest.raises(DataError, match="not a folder"):
        read_hr_folder(hr_folder / "missing")


def test_two_stage_training_writes_both_bundles_and_a_report(hr_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = Upscaler.train(hr_folder, out=run, progress=False, gan_epochs=1, disc_features=8,
                            disc_warmup_steps=1, val_fraction=0.25, command="sightkit enhance train hr", **TINY)
    assert set(result.bundles) == {"psnr", "gan"}
    meta = read_meta(result.bundles["gan"])
    assert meta["kind"] == "gan" and meta["training"]["command"] == "sightkit enhance train hr"
    assert meta["training"]["feature_net"] == "random"
    assert result.report["n"] == 1 and "bicubic_psnr_y" in result.report
    assert (run / "gan" / "samples" / "epoch_000.png").is_file()
    assert (run / "report" / "report.html").is_file()
    assert Upscaler.load(result.bundles["gan"]).scale == 2


def test_gan_stage_alone_from_an_init_bundle_and_resume(hr_folder: Path, tmp_path: Path) -> None:
    first = Upscaler.train(hr_folder, out=tmp_path / "a", progress=False, val_fraction=0, **TINY)
    gan = {**TINY, "epochs": 0}
    result = Upscaler.train(hr_folder, out=tmp_path / "b", init=first.bundles["psnr"], progress=False,
                            gan_epochs=1, disc_features=8, disc_warmup_steps=0, val_fraction=0, **gan)
    assert set(result.bundles) == {"gan"}
    resumed = Upscaler.train(hr_folder, out=tmp_path / "b", resume=True, progress=False, gan_epochs=2)
    assert resumed.meta["training"]["epochs_run"] == 2
    assert json.loads((tmp_path / "b" / "config.json").read_text())["config"]["gan_epochs"] == 2


def test_config_errors_are_one_line(hr_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--patch 30 must be a multiple of --scale 4"):
        make_config(scale=4, patch=30)
    with pytest.raises(ConfigError, match="--epochs 0 needs --init"):
        Upscaler.train(hr_folder, out=tmp_path / "x", progress=False, **{**TINY, "epochs": 0})
    with pytest.raises(ConfigError, match="--resume needs --out"):
        Upscaler.train(hr_folder, resume=True)


def test_init_bundle_of_another_architecture_is_refused(hr_folder: Path, tmp_path: Path, bundle_factory) -> None:
    with pytest.raises(ConfigError, match="differs from this run"):
        Upscaler.train(hr_folder, out=tmp_path / "x", init=bundle_factory(scale=4), progress=False, **TINY)
