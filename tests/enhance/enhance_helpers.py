"""Helpers of the super-resolution tests: generated images and tiny untrained bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sightkit.core.bundle import save_bundle
from sightkit.tasks.enhance.model import create_generator

SHARED_SR = Path(__file__).resolve().parents[3] / "shared" / "data" / "sr"
TINY_ARCH = {"features": 8, "blocks": 2}


def smooth_image(height: int, width: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A natural-looking test image: bicubic-upsampled noise plus a little fine texture."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 6), max(2, width // 6), 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.clip(np.asarray(image, dtype=np.int16) + rng.integers(-12, 13, (height, width, 3)), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8)).convert(mode)


def make_bundle(path: Path, scale: int = 2, channels: int = 1, kind: str = "psnr", seed: int = 0) -> Path:
    """Save a tiny ``lightsr`` with small random weights (not plain bicubic) as an enhance bundle."""
    torch.manual_seed(seed)
    model = create_generator("lightsr", scale, channels, **TINY_ARCH)
    with torch.no_grad():
        model.tail.weight.normal_(0, 0.01)
    meta = {"task": "enhance", "kind": kind,
            "architecture": {"name": "lightsr", "scale": scale, "channels": channels, **TINY_ARCH}}
    return save_bundle(path, model.state_dict(), meta)
