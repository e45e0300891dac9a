"""Face test fixtures: real faces from scikit-image (astronaut: one face) and generated images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """512x512 RGB photo with one face (Eileen Collins), from scikit-image."""
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


@pytest.fixture(scope="session")
def astronaut_file(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("faces") / "eileen.png"
    Image.fromarray(astronaut).save(path)
    return path


@pytest.fixture(scope="session")
def face_crop(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut's face cut out with some margin (~150 px), like a dataset face crop."""
    return np.ascontiguousarray(astronaut[40:210, 140:300])


@pytest.fixture(scope="session")
def no_face_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faces") / "texture.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="session")
def two_faces_file(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    """The astronaut's face twice side by side (the right copy smaller)."""
    face = Image.fromarray(np.ascontiguousarray(astronaut[30:230, 120:320]))
    canvas = Image.new("RGB", (420, 220), "white")
    canvas.paste(face, (0, 10))
    canvas.paste(face.resize((170, 170)), (230, 25))
    path = tmp_path_factory.mktemp("faces") / "two.png"
    canvas.save(path)
    return path
