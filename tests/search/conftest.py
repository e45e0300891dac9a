"""Search test fixtures: seeded random-weight classify bundles and small RGB images that differ clearly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIZE = 16


def write_bundle(path: Path, seed: int) -> Path:
    """A ``skcnn_tiny`` classify bundle with weights drawn from ``seed`` (RGB, 16 px)."""
    import torch

    from sightkit.core.bundle import save_bundle
    from sightkit.tasks.classify.model import create_model

    torch.manual_seed(seed)
    model = create_model("skcnn_tiny", num_classes=2, in_chans=3)
    meta = {"task": "classify", "architecture": {"name": "skcnn_tiny", "in_chans": 3, "num_classes": 2},
            "classes": ["a", "b"],
            "preprocessing": {"size": SIZE, "mode": "RGB", "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}}
    return save_bundle(path, model.state_dict(), meta)


def write_image(path: Path, seed: int) -> Path:
    """A 16 x 16 RGB image of random 4 x 4 colour blocks (no two seeds alike)."""
    blocks = np.random.default_rng(seed).integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.kron(blocks, np.ones((4, 4, 1), dtype=np.uint8))).save(path)
    return path


@pytest.fixture(scope="session")
def search_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("search-model") / "model", seed=0)


@pytest.fixture(scope="session")
def other_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("search-other") / "model", seed=1)


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    """``tmp_path/catalogue`` with 8 images in two sub-folders."""
    for i in range(8):
        write_image(tmp_path / "catalogue" / ("shoes" if i < 4 else "bags") / f"{i}.png", seed=i)
    return tmp_path / "catalogue"


@pytest.fixture(scope="session")
def image_writer() -> Callable[[Path, int], Path]:
    """The :func:`write_image` function."""
    return write_image
