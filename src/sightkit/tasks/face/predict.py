"""Enrollment descriptors, identification and verification results, shared by the API and evaluation.

Example:
    >>> face, views = enrollment_views(rgb, FaceOptions(), ladder=True, name="ann.jpg")  # doctest: +SKIP
    >>> sorted({level for level, _ in views})                                          # doctest: +SKIP
    [0.0, 4.0, 5.7, 8.0, 11.3, 16.0, 22.6]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sightkit.errors import FaceError
from sightkit.tasks.face.ladder import NATIVE, synthetic_views
from sightkit.tasks.face.pipeline import Face, FaceOptions, embed_faces, find_faces

UNKNOWN = "unknown"
PICK_MODES = ("largest",)
# Smaller images cannot hold a recognisable face (the robustness protocol's smallest is 13x16).
MIN_IMAGE_SIDE = 12


@dataclass
class Identification:
    """One face of a probe image: its box, the nearest enrolled people and the decision."""

    image: str
    face: Face
    matches: list[tuple[str, float]]
    threshold: float
    level: float = NATIVE
    name: str = field(init=False)

    def __post_init__(self) -> None:
        close = self.matches and self.matches[0][1] <= self.threshold
        self.name = self.matches[0][0] if close else UNKNOWN

    @property
    def distance(self) -> float | None:
        return self.matches[0][1] if self.matches else None

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "name": self.name, "distance": _round(self.distance), "threshold": self.threshold,
                "box": self.face.box.to_dict(), "matched_at_eye_distance_px": self.level or None,
                "top": [{"name": n, "distance": _round(d)} for n, d in self.matches]}


@dataclass(frozen=True)
class Verification:
    """Whether two images show the same person: the distance and the threshold it was held to."""

    same: bool
    distance: float
    threshold: float
    level: float = NATIVE

    def to_dict(self) -> dict[str, Any]:
        return {"same": self.same, "distance": round(self.distance, 4), "threshold": self.threshold,
                "matched_at_eye_distance_px": self.level or None}


def one_face(rgb: np.ndarray, options: FaceOptions, name: str, pick: str | None = None) -> Face:
    """The single face of an image (descriptor not computed); several need ``pick="largest"``."""
    if min(rgb.shape[:2]) < MIN_IMAGE_SIDE:
        raise FaceError(f"{name}: {rgb.shape[1]}x{rgb.shape[0]} px is too small to hold a face "
                        f"(at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} px)")
    faces = find_faces(rgb, options)
    if not faces:
        raise FaceError(f"{name}: no face found; use a photo with the face at least ~40 px wide, raise --upsample, "
                        "or pass --crops if the image is a face crop")
    if len(faces) > 1 and pick is None:
        raise FaceError(f"{name}: {len(faces)} faces found; pass --pick largest to use the largest one")
    if pick is not None and pick not in PICK_MODES:
        raise FaceError(f"--pick must be one of {', '.join(PICK_MODES)}, not {pick!r}")
    return max(faces, key=lambda f: f.box.area)


def enrollment_views(rgb: np.ndarray, options: FaceOptions, ladder: bool, name: str,
                     pick: str | None = None) -> list[tuple[float, Face]]:
    """``(level, face)`` with descriptors: the face at full resolution, plus its ladder views."""
    face = one_face(rgb, options, name, pick)
    views = [(NATIVE, face)] + (synthetic_views(rgb, face, options) if ladder else [])
    embed_faces([view for _, view in views if view.embedding is None and view is not face] + [face], options)
    return views


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
