"""Fixtures of the super-resolution tests: tiny HR folders and tiny untrained bundles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from enhance_helpers import SHARED_SR, make_bundle, smooth_image


@pytest.fixture
def hr_folder(tmp_path: Path) -> Path:
    """Four 48x40 RGB PNGs of smooth random texture."""
    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(4):
        smooth_image(40, 48, seed=i).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def bundle_factory(tmp_path: Path) -> Callable[..., Path]:
    """``bundle_factory(scale=2, channels=1, name="model")`` -> path of a tiny enhance bundle."""

    def make(scale: int = 2, channels: int = 1, name: str = "model", kind: str = "psnr") -> Path:
        return make_bundle(tmp_path / name, scale, channels, kind)

    return make


@pytest.fixture
def set5() -> Path:
    """The Set5 HR images from ../shared (skips when absent)."""
    folder = SHARED_SR / "Set5"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (needs ../shared/data)")
    return folder
