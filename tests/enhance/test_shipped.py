"""The shipped models: present in the package, small, reproducible, and as good as documented."""

from __future__ import annotations

import pytest
from enhance_helpers import smooth_image

from sightkit.core.bundle import read_meta
from sightkit.errors import EnhanceError, ModelError
from sightkit.tasks.enhance.api import Upscaler
from sightkit.tasks.enhance.shipped import resolve_model, shipped_models, shipped_name

# Set5 Y-PSNR floors (dB): the targets (SRCNN x2, ESPCN x4) for the PSNR models,
# and bicubic + 1 dB for the GAN models, whose detail PSNR punishes.
SET5_FLOORS = {"default-x2": 36.66, "default-x4": 30.90, "gan-x2": 34.67, "gan-x4": 29.43}


def test_four_models_ship_and_are_small() -> None:
    models = shipped_models()
    assert set(models) == set(SET5_FLOORS)
    for name, path in models.items():
        meta = read_meta(path)
        assert path.stat().st_size < 5 * 2**20
        assert meta["task"] == "enhance" and meta["architecture"]["scale"] == int(name[-1])
        assert meta["kind"] == ("gan" if name.startswith("gan") else "psnr")
        assert meta["training"]["command"].startswith("sightkit enhance train ")


def test_python_api_upscales_with_no_download() -> None:
    assert Upscaler.load("default-x4").upscale(smooth_image(30, 40)).size == (160, 120)


def test_names_and_scales() -> None:
    assert shipped_name("gan", 2) == "gan-x2"
    with pytest.raises(EnhanceError, match="ships x2 and x4"):
        shipped_name("default", 3)
    with pytest.raises(ModelError, match="no such bundle and not a shipped model"):
        resolve_model("default-x8")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SET5_FLOORS))
def test_set5_psnr_meets_the_documented_floor(name: str, set5) -> None:
    report = Upscaler.load(name).evaluate(set5)
    assert report["psnr_y"] >= SET5_FLOORS[name]
    assert report["psnr_y"] > report["bicubic_psnr_y"]
