"""Jitter for tiny faces: the same face a little larger, smaller or shifted by a fraction of a pixel.

With a few pixels between the eyes, where exactly a face falls on the pixel grid, and how
its size rounds, move the landmarks and so the descriptor as much as identity does. Two
places average that out: the ladder stores each enrollment view under every jitter
(:mod:`sightkit.tasks.face.ladder`), and a tiny probe face is also described from jittered
copies of itself (:func:`sightkit.tasks.face.pipeline.find_faces`).

Example:
    >>> import numpy as np
    >>> jittered(np.zeros((16, 13, 3), np.uint8), 0.4, -0.4, 1.07).shape
    (17, 14, 3)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# (shift right, shift down) in pixels of the tiny image, and a size factor; the first is "as is".
JITTERS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 1.0), (0.0, 0.0, 0.93), (0.0, 0.0, 1.07), (0.0, 0.0, 0.87), (0.0, 0.0, 1.14),
    (0.4, 0.4, 1.0), (-0.4, -0.4, 1.0), (0.4, -0.4, 1.0), (-0.4, 0.4, 1.0))
# Context kept around a face (share of its box) when it is cut out to be jittered or shrunk.
CONTEXT = 0.6


def jittered(rgb: np.ndarray, shift_x: float, shift_y: float, size: float) -> np.ndarray:
    """``rgb`` resized by ``size`` and shifted by a sub-pixel amount (bicubic resampling)."""
    image = Image.fromarray(np.ascontiguousarray(rgb))
    out_size = (max(2, round(image.width * size)), max(2, round(image.height * size)))
    inverse = (1 / size, 0.0, -shift_x / size, 0.0, 1 / size, -shift_y / size)
    return np.asarray(image.transform(out_size, Image.Transform.AFFINE, inverse, resample=Image.Resampling.BICUBIC))


def context_crop(rgb: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """The box ``(left, top, right, bottom)`` cut out of ``rgb`` with :data:`CONTEXT` around it."""
    mx, my = round((right - left) * CONTEXT), round((bottom - top) * CONTEXT)
    top, bottom = max(0, top - my), min(rgb.shape[0], bottom + my)
    left, right = max(0, left - mx), min(rgb.shape[1], right + mx)
    return np.ascontiguousarray(rgb[top:bottom, left:right])
