"""Helpers of the explanation tests: predictors without a bundle, and the patch task's images."""

from __future__ import annotations

import numpy as np
from torch import nn

from sightkit.tasks.classify.predict import Predictor

PATCH_CLASSES = ("left", "right", "none")


def make_predictor(model: nn.Module, classes: tuple[str, ...] = ("a", "b", "c"), size: int = 16,
                   mode: str = "L") -> Predictor:
    """A Predictor around ``model`` with plain preprocessing (no bundle needed)."""
    channels = 1 if mode == "L" else 3
    meta = {"classes": list(classes), "architecture": {"name": "test", "in_chans": channels},
            "preprocessing": {"mode": mode, "size": size, "mean": [0.5] * channels, "std": [0.25] * channels}}
    return Predictor(model, meta)


def patch_image(label: str, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """A uint8 image of the patch task: grey noise, and a bright patch in the ``label`` half."""
    pixels = rng.normal(128, 12, size=(size, size))
    side, half = size // 4, size // 2
    if label != "none":
        x = rng.integers(0, half - side + 1) + (half if label == "right" else 0)
        y = rng.integers(0, size - side + 1)
        pixels[y:y + side, x:x + side] = rng.integers(220, 256, size=(side, side))
    return np.clip(pixels, 0, 255).astype(np.uint8)
