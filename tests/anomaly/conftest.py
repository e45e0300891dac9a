"""Fixtures of the anomaly tests: real scikit-learn digits written as PNG folders, and one trained bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Small enough that training a bundle takes a second or two on one thread.
SIZE = 16


def write_digits(root: Path, digit: int, count: int, offset: int = 0) -> Path:
    """``count`` images of ``digit`` (starting at its ``offset``-th) as 8x8 grey PNGs in ``root``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    chosen = np.flatnonzero(data.target == digit)[offset:offset + count]
    root.mkdir(parents=True, exist_ok=True)
    for i in chosen:
        pixels = np.round(data.images[i] * (255 / 16)).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(root / f"d{digit}_{i:04d}.png")
    return root


@pytest.fixture(scope="session")
def digits_writer():
    """The :func:`write_digits` function."""
    return write_digits


@pytest.fixture(scope="module")
def digit_folders(tmp_path_factory) -> dict[str, Path]:
    """``train`` (100 ones), ``normal`` (40 other ones), ``anomalous`` (20 sevens + 20 zeros)."""
    root = tmp_path_factory.mktemp("digits")
    write_digits(root / "anomalous", 7, 20)
    write_digits(root / "anomalous", 0, 20)
    return {"train": write_digits(root / "train", 1, 100), "normal": write_digits(root / "normal", 1, 40, offset=100),
            "anomalous": root / "anomalous"}


@pytest.fixture(scope="module")
def patchcore_bundle(digit_folders, tmp_path_factory) -> Path:
    """A PatchCore bundle trained on the ones (built-in random backbone)."""
    from sightkit.tasks.anomaly.api import AnomalyDetector

    out = tmp_path_factory.mktemp("bundle") / "ones.sightkit"
    AnomalyDetector.train(digit_folders["train"], out=out, size=SIZE)
    return out
