"""Serve test fixtures: a tiny trained classifier bundle, images it knows, a real face photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ("dark", "bright", "stripes")


@pytest.fixture(scope="session")
def classifier_bundle(tmp_path_factory: pytest.TempPathFactory, dataset_writer) -> Path:
    """A classify bundle (``skcnn_tiny``, 3 epochs) whose classes are dark, bright and stripes."""
    from sightkit import Classifier

    root = tmp_path_factory.mktemp("serve")
    data = dataset_writer(root / "data", per_class=20, size=12, classes=CLASSES)
    clf = Classifier.train(data, model="skcnn_tiny", out=root / "run", progress=False, status=lambda m: None,
                           epochs=3, batch_size=4, seed=0)
    return clf.path


@pytest.fixture(scope="session")
def bright_image(tmp_path_factory: pytest.TempPathFactory, pattern_maker) -> Path:
    """A fresh 'bright' pattern image (not in the training data) as PNG."""
    path = tmp_path_factory.mktemp("probe") / "bright.png"
    Image.fromarray(pattern_maker("bright", 12, np.random.default_rng(7))).save(path)
    return path


@pytest.fixture(scope="session")
def face_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """512x512 RGB photo with one face (scikit-image's astronaut) as PNG."""
    skimage_data = pytest.importorskip("skimage.data")
    path = tmp_path_factory.mktemp("faces") / "eileen.png"
    Image.fromarray(skimage_data.astronaut()).save(path)
    return path
