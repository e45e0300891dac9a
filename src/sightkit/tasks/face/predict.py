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

from sightkit.errors import ConfigError, FaceError
from sightkit.tasks.face.ladder import NATIVE, synthetic_views
from sightkit.tasks.face.pipeline import Face, FaceOptions, embed_faces, find_faces

UNKNOWN = "unknown"
NO_FACE = "no face found"
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


@dataclass
class Enrollment:
    """One person's enrollment: images enrolled by this call, images skipped and why, and the totals stored.

    ``images`` and ``embeddings`` count everything the gallery holds for the person after the call.
    """

    name: str
    enrolled: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    images: int = 0
    embeddings: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "enrolled": self.enrolled,
                "skipped": [{"image": image, "reason": reason} for image, reason in self.skipped],
                "images": self.images, "embeddings": self.embeddings}


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


class FaceNotUsable(FaceError):
    """An image that does not show exactly one usable face; ``reason`` says why in a few words.

    Example:
        >>> str(FaceNotUsable("a.jpg", "no face found", "use another photo"))
        'a.jpg: no face found; use another photo'
    """

    def __init__(self, image: str, reason: str, hint: str) -> None:
        super().__init__(f"{image}: {reason}; {hint}")
        self.image, self.reason = image, reason


def check_pick(pick: str | None) -> None:
    """Raise :class:`ConfigError` unless ``pick`` is ``None`` or one of :data:`PICK_MODES`."""
    if pick is not None and pick not in PICK_MODES:
        raise ConfigError(f"--pick must be one of {', '.join(PICK_MODES)}, not {pick!r}")


def check_image_size(rgb: np.ndarray, name: str) -> None:
    """Raise :class:`FaceNotUsable` for an image too small to hold a face."""
    if min(rgb.shape[:2]) < MIN_IMAGE_SIDE:
        raise FaceNotUsable(name, f"too small ({rgb.shape[1]}x{rgb.shape[0]} px)",
                            f"a face needs at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} px")


def one_face(rgb: np.ndarray, options: FaceOptions, name: str, pick: str | None = None) -> Face:
    """The single face of an image (descriptor not computed); several need ``pick="largest"``."""
    check_pick(pick)
    check_image_size(rgb, name)
    faces = find_faces(rgb, options)
    if not faces:
        raise FaceNotUsable(name, NO_FACE, "use a photo with the face at least ~40 px wide, raise --upsample, "
                                           "or pass --crops if the image is a face crop")
    if len(faces) > 1 and pick is None:
        raise FaceNotUsable(name, f"{len(faces)} faces found", "pass --pick largest to use the largest one")
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
