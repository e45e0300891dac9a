"""Face detection with dlib: the HOG detector (fast default) and the CNN (MMOD) detector.

:func:`detect_faces` runs the chosen detector; with ``fallback=True`` a HOG miss is retried
with the CNN detector, which finds more blurred, small, dark and partly hidden faces at
~20x the cost, so it only runs on the images that need it.

Example:
    >>> import numpy as np
    >>> detect_faces(np.zeros((64, 64, 3), np.uint8))
    []
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from sightkit.errors import ConfigError
from sightkit.tasks.face.model import CNN_DETECTOR, model_file

DETECTORS = ("hog", "cnn")
# dlib's HOG detector scores around 0 at its decision boundary; MMOD confidences likewise.
_HOG_THRESHOLD = 0.0
_CNN_THRESHOLD = 0.0
# A partly hidden face in a crop takes its best centred HOG window down to this score (``centred_weak_box``),
# if the window's centre is within this share of the crop's size from the crop's centre and its side at
# least this share of the crop's shorter side: where a crop's face can be.
WEAK_HOG_THRESHOLD = -1.0
_WEAK_CENTRE_TOLERANCE = 1 / 6
_WEAK_MIN_SIDE = 0.4
# Upsampling doubles the side each time; 4 (16x) is already far beyond useful for the CNN.
MAX_UPSAMPLE = 4


@dataclass(frozen=True)
class Box:
    """A face box in pixel coordinates of the image it was found in (right/bottom exclusive)."""

    left: int
    top: int
    right: int
    bottom: int
    score: float
    source: str  # "hog", "cnn", "hog-weak" (see centred_weak_box) or "whole" (the whole image taken as the face)

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def scaled(self, factor: float) -> Box:
        """This box in an image resized by ``factor`` (e.g. 0.5 maps back from a 2x upscale)."""
        return Box(round(self.left * factor), round(self.top * factor), round(self.right * factor),
                   round(self.bottom * factor), self.score, self.source)

    def clipped(self, width: int, height: int) -> Box:
        """This box cut to a ``width`` x ``height`` image."""
        return Box(max(0, self.left), max(0, self.top), min(width, self.right), min(height, self.bottom), self.score,
                   self.source)

    def to_dict(self) -> dict[str, Any]:
        return {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom,
                "score": round(self.score, 4), "detector": self.source}


def detect_faces(rgb: np.ndarray, detector: str = "hog", upsample: int = 0, fallback: bool = False) -> list[Box]:
    """Face boxes in an ``H x W x 3`` uint8 RGB array, best score first.

    ``upsample`` doubles the image that many times before detecting (finds faces down to
    ~80 / 2**upsample px for HOG, ~40 / 2**upsample px for the CNN). Boxes are clipped
    to the image.

    Example:
        >>> boxes = detect_faces(load_rgb("team.jpg"), upsample=1, fallback=True)  # doctest: +SKIP
        >>> [(b.left, b.top, b.width, b.height, b.source) for b in boxes]           # doctest: +SKIP
        [(120, 44, 92, 92, 'hog'), ...]
    """
    check_detector(detector, upsample)
    boxes = _hog(rgb, upsample) if detector == "hog" else _cnn(rgb, upsample)
    if not boxes and fallback and detector == "hog":
        boxes = _cnn(rgb, upsample)
    height, width = rgb.shape[:2]
    clipped = [b.clipped(width, height) for b in boxes]
    return sorted((b for b in clipped if b.width > 1 and b.height > 1), key=lambda b: -b.score)


def check_detector(detector: str, upsample: int) -> None:
    """Raise :class:`ConfigError` for an unknown detector or an upsampling out of range.

    Example:
        >>> check_detector("yolo", 0)
        Traceback (most recent call last):
        sightkit.errors.ConfigError: --detector must be one of hog, cnn, not 'yolo'
    """
    if detector not in DETECTORS:
        raise ConfigError(f"--detector must be one of {', '.join(DETECTORS)}, not {detector!r}")
    if not 0 <= upsample <= MAX_UPSAMPLE:
        raise ConfigError(f"--upsample must be between 0 and {MAX_UPSAMPLE}, not {upsample}")


def whole_image_box(rgb: np.ndarray) -> Box:
    """The whole image as one face box, for inputs that are already face crops."""
    return Box(0, 0, rgb.shape[1], rgb.shape[0], 0.0, "whole")


def centred_weak_box(rgb: np.ndarray, min_score: float = WEAK_HOG_THRESHOLD) -> Box | None:
    """In a face crop, the best HOG window near its centre scoring at least ``min_score``, or ``None``.

    For a crop where no detector fired because part of the face is hidden: the hidden face
    still scores highest about where it is, and that window is a better landmark box than
    the whole crop. Only windows where a crop's face can be count: centred within a sixth
    of the crop's size and at least 0.4 of its shorter side. On crops with a margin around
    the face (scikit-image's astronaut, 35% of it hidden at random) these windows are about
    as good as the whole crop; on tight crops (att_faces) they are better.

    Example:
        >>> box = centred_weak_box(load_rgb("half_hidden_face.png"))  # doctest: +SKIP
        >>> box.source                                                 # doctest: +SKIP
        'hog-weak'
    """
    height, width = rgb.shape[:2]
    fitting = [b for b in _hog(rgb, 0, min_score)
               if abs((b.left + b.right) / 2 - width / 2) <= _WEAK_CENTRE_TOLERANCE * width
               and abs((b.top + b.bottom) / 2 - height / 2) <= _WEAK_CENTRE_TOLERANCE * height
               and b.width >= _WEAK_MIN_SIDE * min(height, width)]
    if not fitting:
        return None
    return replace(max(fitting, key=lambda b: b.score).clipped(width, height), source="hog-weak")


def weak_box_by_occluder(rgb: np.ndarray, occluder: np.ndarray, min_score: float = WEAK_HOG_THRESHOLD) -> Box | None:
    """In a whole photo, the best HOG window scoring at least ``min_score`` that touches the occluder, or ``None``.

    A face partly hidden by a box still scores highest beside or under it; windows elsewhere
    in the photo are not considered.
    """
    best = None
    for box in _hog(rgb, 0, min_score):
        margin_x, margin_y = box.width // 4, box.height // 4
        region = occluder[max(0, box.top - margin_y):box.bottom + margin_y, max(0, box.left - margin_x):box.right + margin_x]
        if region.any() and (best is None or box.score > best.score):
            best = box
    return None if best is None else replace(best.clipped(rgb.shape[1], rgb.shape[0]), source="hog-weak")


def faint_face(rgb: np.ndarray, min_score: float = WEAK_HOG_THRESHOLD) -> bool:
    """Whether any HOG window scores at least ``min_score``: a face too faint to detect may be there.

    A blurred, low-resolution face scores about -1.4 to +0.1 where the detector needs 0; a
    flat image about -2.4 (random noise and natural scenes -0.7 to -1.6, so this is a weak
    hint, not a detector).
    """
    return bool(_hog(rgb, 0, min_score))


def _hog(rgb: np.ndarray, upsample: int, threshold: float = _HOG_THRESHOLD) -> list[Box]:
    rects, scores, _ = _hog_detector().run(rgb, upsample, threshold)
    return [Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1, float(s), "hog") for r, s in zip(rects, scores)]


def _cnn(rgb: np.ndarray, upsample: int) -> list[Box]:
    found = _cnn_detector()(rgb, upsample)
    return [Box(d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1, float(d.confidence), "cnn")
            for d in found if d.confidence >= _CNN_THRESHOLD]


@lru_cache(maxsize=1)
def _hog_detector() -> Any:
    import dlib

    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=1)
def _cnn_detector() -> Any:
    import dlib

    return dlib.cnn_face_detection_model_v1(str(model_file(CNN_DETECTOR)))
