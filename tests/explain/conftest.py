"""Fixtures for the explanation tests: small predictors and bundles, and a trained patch model.

The patch task: 16x16 grey images of mid-grey noise (the normalisation mean, so the ``mean``
faithfulness baseline erases nothing but the evidence); ``left`` and ``right`` images hold one
bright 4x4 patch in that half, ``none`` images none. With ``none`` as a class, ``left`` and
``right`` need evidence of their own (in a two-class task one class can be "not the other",
and Grad-CAM, which keeps positive evidence only, shows nothing for it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from explain_helpers import PATCH_CLASSES, make_predictor, patch_image
from PIL import Image

from sightkit.core.bundle import save_bundle
from sightkit.tasks.classify.model import create_model
from sightkit.tasks.classify.predict import Predictor


@pytest.fixture
def skcnn_predictor() -> Predictor:
    """An untrained skcnn_tiny over 16x16 grey images with three classes."""
    torch.manual_seed(0)
    return make_predictor(create_model("skcnn_tiny", 3, 1))


@pytest.fixture(scope="session")
def patch_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``root/{left,right,none}/NNN.png``: 32 images per class of the patch task."""
    root = tmp_path_factory.mktemp("patch")
    rng = np.random.default_rng(0)
    for label in PATCH_CLASSES:
        (root / label).mkdir()
        for i in range(32):
            Image.fromarray(patch_image(label, rng), mode="L").save(root / label / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained skcnn_tiny bundle for the patch task's classes (explanation plumbing only)."""
    torch.manual_seed(0)
    model = create_model("skcnn_tiny", len(PATCH_CLASSES), 1)
    meta = {"task": "classify", "classes": list(PATCH_CLASSES),
            "architecture": {"name": "skcnn_tiny", "in_chans": 1, "num_classes": len(PATCH_CLASSES)},
            "preprocessing": {"size": 16, "mode": "L", "channels": 1, "mean": [0.5], "std": [0.25]}}
    return save_bundle(tmp_path_factory.mktemp("tiny") / "model", model.state_dict(), meta)


@pytest.fixture(scope="session")
def patch_bundle(patch_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A skcnn_tiny bundle trained on the patch task with ``Classifier.train`` (~20 s on 2 cores)."""
    from sightkit import Classifier

    run = tmp_path_factory.mktemp("patch-run")
    clf = Classifier.train(patch_dataset, "skcnn_tiny", out=run, epochs=6, batch_size=16, augment="none",
                           hflip=False, lr=0.01, workers=0, progress=False, status=lambda m: None)
    assert clf.report is not None and clf.report["accuracy"] >= 0.9
    return clf.path
