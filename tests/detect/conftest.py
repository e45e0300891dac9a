"""Shared fixtures of the detection tests: a tiny YOLO shapes dataset and a detector trained on it for one epoch."""

from __future__ import annotations

from pathlib import Path

import pytest

from sightkit.tasks.detect.api import Detector
from sightkit.tasks.detect.shapes import write_shapes


@pytest.fixture(scope="session")
def shapes(tmp_path_factory) -> Path:
    return write_shapes(tmp_path_factory.mktemp("detect") / "shapes", count=10, size=64, fmt="yolo", seed=1)


@pytest.fixture(scope="session")
def trained(shapes: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run") / "run"
    result = Detector.train(shapes, out=run, epochs=1, image_size=64, batch_size=4, val_fraction=0.2,
                            progress=False, status=lambda line: None)
    assert result.meta["training"]["train_images"] == 8 and result.meta["training"]["format"] == "yolo"
    return result.bundle
