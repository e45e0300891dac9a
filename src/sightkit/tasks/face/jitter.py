"""Jitter for tiny faces: the same face a little larger, smaller or shifted by a fraction of a pixel.

With a few pixels between the eyes, where exactly a face falls on the pixel grid, and how
its size rounds, move the landmarks and so the descriptor as much as identity does. Two
places average that out: the ladder stores each enrollment view under every jitter
(:mod:`sightkit.tasks.face.ladder`), and a tiny probe face is also described from jittered
copies of the photo around it (:func:`sightkit.tasks.face.pipeline.find_faces`). Both go
through the same detection and alignment as the probe photo itself.

Example:
    >>> import numpy as np
    >>> jittered(np.zeros((16, 13, 3), np.uint8), 0.4, -0.4, 1.07).shape
    (17, 14, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from PIL import Image

T = TypeVar("T")
# (shift right, shift down) in pixels of the tiny image, and a size factor; the first is "as is".
JITTERS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 1.0), (0.0, 0.0, 0.93), (0.0, 0.0, 1.07), (0.0, 0.0, 0.87), (0.0, 0.0, 1.14),
    (0.4, 0.4, 1.0), (-0.4, -0.4, 1.0), (0.4, -0.4, 1.0), (-0.4, 0.4, 1.0))
# The photo around a face that is shrunk or jittered to make a view of it, in face boxes each
# way: a whole photo keeps its background (as a probe photo of that size would have it), and
# a large photo is not resampled whole for every view.
SURROUNDINGS = 3.0


def jittered(rgb: np.ndarray, shift_x: float, shift_y: float, size: float) -> np.ndarray:
    """``rgb`` resized by ``size`` and shifted by a sub-pixel amount (bicubic resampling)."""
    image = Image.fromarray(np.ascontiguousarray(rgb))
    out_size = (max(2, round(image.width * size)), max(2, round(image.height * size)))
    inverse = (1 / size, 0.0, -shift_x / size, 0.0, 1 / size, -shift_y / size)
    return np.asarray(image.transform(out_size, Image.Transform.AFFINE, inverse, resample=Image.Resampling.BICUBIC))


def surroundings(rgb: np.ndarray, left: int, top: int, right: int, bottom: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo around the box (at most :data:`SURROUNDINGS` box sizes each way) and its top-left corner."""
    mx, my = round((right - left) * SURROUNDINGS), round((bottom - top) * SURROUNDINGS)
    top, left = max(0, top - my), max(0, left - mx)
    bottom, right = min(rgb.shape[0], bottom + my), min(rgb.shape[1], right + mx)
    return np.ascontiguousarray(rgb[top:bottom, left:right]), np.array([left, top], dtype=float)


def nearest(faces: Sequence[T], centre: np.ndarray, width: float) -> T | None:
    """The face (anything with a ``box``) whose box centre is nearest ``centre``, if within half ``width`` of it."""
    def distance(face: T) -> float:
        box = face.box
        return float(np.hypot((box.left + box.right) / 2 - centre[0], (box.top + box.bottom) / 2 - centre[1]))
    best = min(faces, key=distance, default=None)
    return best if best is not None and distance(best) <= max(width / 2, 2.0) else None
