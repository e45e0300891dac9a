"""Facial landmarks (dlib's 5- and 68-point shape predictors) and aligned face chips.

A chip is the face rotated, scaled and cropped so that the landmarks land where dlib's
descriptor network expects them (``dlib.get_face_chip``, 150 x 150 px, padding 0.25).
Landmarks are fitted inside a given box, so a whole face crop can be aligned even when no
detector fires on it ("landmark-only alignment").

Example:
    >>> shape = fit_landmarks(rgb, box, points=5)            # doctest: +SKIP
    >>> face_chip(rgb, shape).shape                          # doctest: +SKIP
    (150, 150, 3)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from sightkit.errors import ConfigError
from sightkit.tasks.face.detect import Box
from sightkit.tasks.face.model import CHIP_SIZE, LANDMARKS_5, LANDMARKS_68, model_file

LANDMARK_SETS = {5: LANDMARKS_5, 68: LANDMARKS_68}
# dlib's default margin around the landmarks when cutting a chip for the descriptor.
CHIP_PADDING = 0.25


def fit_landmarks(rgb: np.ndarray, box: Box, points: int = 5) -> Any:
    """dlib ``full_object_detection`` with ``points`` landmarks fitted inside ``box``.

    Example:
        >>> landmark_points(fit_landmarks(rgb, box, 68)).shape   # doctest: +SKIP
        (68, 2)
    """
    import dlib

    if points not in LANDMARK_SETS:
        raise ConfigError(f"--landmarks must be 5 or 68, not {points}")
    rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
    return _predictor(points)(rgb, rect)


def landmark_points(shape: Any) -> np.ndarray:
    """``N x 2`` array of (x, y) landmark coordinates of a dlib shape."""
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def face_chip(rgb: np.ndarray, shape: Any, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """The aligned ``size x size x 3`` uint8 chip of the face that ``shape`` describes."""
    import dlib

    return dlib.get_face_chip(np.ascontiguousarray(rgb), shape, size, padding)


@lru_cache(maxsize=2)
def _predictor(points: int) -> Any:
    import dlib

    return dlib.shape_predictor(str(model_file(LANDMARK_SETS[points])))
