"""Hole masks for training and evaluating inpainting: free-form strokes and boxes.

Masks are ``H x W`` float32 arrays, 1 where pixels are missing. Training draws a mix of
brush strokes (random walks of thick lines, as in DeepFill v2's free-form masks) and boxes,
with a hole ratio that grows over training (:func:`curriculum_ratio`). Evaluation draws a
mask whose hole ratio falls inside a bucket (``0.2-0.3``: 20-30% of the pixels), seeded per
image, so every method sees the same holes.

Example:
    >>> rng = np.random.default_rng(0)
    >>> mask = random_mask(64, 64, 0.25, rng)
    >>> mask.shape, bool(0.15 < mask.mean() < 0.35)
    ((64, 64), True)
    >>> bool(0.2 <= bucket_mask(64, 64, (0.2, 0.3), seed=1).mean() < 0.3)
    True
"""

from __future__ import annotations

import math

import cv2
import numpy as np

RATIO_BUCKETS = ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4))
_BOX_SHARE = 0.3  # share of training masks that are one box rather than strokes


def random_mask(height: int, width: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Strokes (or, 30% of the time, a box) covering about ``ratio`` of the image."""
    if rng.random() < _BOX_SHARE:
        return box_mask(height, width, ratio, rng)
    return stroke_mask(height, width, ratio, rng)


def box_mask(height: int, width: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """One rectangle of ``ratio`` of the area (aspect 1/2 to 2) at a random place."""
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    box_w = int(np.clip(round(math.sqrt(ratio * height * width * aspect)), 1, width))
    box_h = int(np.clip(round(ratio * height * width / box_w), 1, height))
    top, left = int(rng.integers(0, height - box_h + 1)), int(rng.integers(0, width - box_w + 1))
    mask = np.zeros((height, width), np.float32)
    mask[top:top + box_h, left:left + box_w] = 1.0
    return mask


def stroke_mask(height: int, width: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Random-walk brush strokes added until about ``ratio`` of the pixels are covered."""
    mask = np.zeros((height, width), np.uint8)
    side = min(height, width)
    for _ in range(64):
        if mask.mean() >= ratio:
            break
        thickness = max(1, int(rng.uniform(0.04, 0.12) * side))
        x, y = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        angle = rng.uniform(0, 2 * math.pi)
        for _ in range(int(rng.integers(3, 8))):
            angle += rng.uniform(-0.8, 0.8)
            length = rng.uniform(0.1, 0.3) * side
            nx = float(np.clip(x + length * math.cos(angle), 0, width - 1))
            ny = float(np.clip(y + length * math.sin(angle), 0, height - 1))
            cv2.line(mask, (round(x), round(y)), (round(nx), round(ny)), 1, thickness)
            x, y = nx, ny
    return mask.astype(np.float32)


def bucket_mask(height: int, width: int, bucket: tuple[float, float], seed: int, tries: int = 200) -> np.ndarray:
    """A seeded :func:`random_mask` whose hole ratio lies in ``[low, high)``."""
    low, high = bucket
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        mask = random_mask(height, width, rng.uniform(low, high), rng)
        if low <= mask.mean() < high:
            return mask
    raise RuntimeError(f"no mask in the ratio bucket {bucket} after {tries} tries ({height}x{width})")


def curriculum_ratio(progress: float, rng: np.random.Generator, start: float = 0.15, end: float = 0.45) -> float:
    """A hole ratio drawn up to a ceiling that grows from ``start`` to ``end`` as ``progress`` goes 0 -> 1."""
    ceiling = start + (end - start) * min(1.0, max(0.0, progress))
    return float(rng.uniform(0.05, ceiling))


def bucket_name(bucket: tuple[float, float]) -> str:
    """``(0.2, 0.3)`` -> ``"20-30%"``."""
    return f"{round(bucket[0] * 100)}-{round(bucket[1] * 100)}%"
