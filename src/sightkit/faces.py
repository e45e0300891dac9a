"""Find and compare faces in a few lines, as with the ``face_recognition`` package.

:func:`find` returns every face in an image with its box, named landmarks and 128-d
descriptor; :func:`compare` says how far apart two faces are and whether that is a match.
Both run sightkit's face pipeline (:mod:`sightkit.tasks.face.pipeline`: the same detection,
alignment and descriptor that ``sightkit face`` and :class:`FaceGallery` use), so a
descriptor from :func:`find` can be compared with a gallery's.

Example:
    >>> from sightkit import faces                                     # doctest: +SKIP
    >>> ada = faces.find("ada.jpg")[0]                                 # doctest: +SKIP
    >>> ada.box.left, ada.landmarks["nose_tip"], ada.embedding.shape   # doctest: +SKIP
    (212, [(251.0, 140.0)], (128,))
    >>> [faces.compare(ada, face).match for face in faces.find("team.jpg")]   # doctest: +SKIP
    [False, True, False]

The match threshold of :func:`compare` is dlib's published 0.6 unless you pass one. It is
not calibrated for your cameras or people (on att_faces it named 6 of 12 strangers as
enrolled people); run ``sightkit face calibrate`` on a gallery and pass its threshold:
``faces.compare(a, b, threshold=FaceGallery("people.db").threshold)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sightkit.core.images import ImageSource, load_image
from sightkit.errors import ConfigError
from sightkit.tasks.face.align import named_landmarks
from sightkit.tasks.face.api import FaceGallery
from sightkit.tasks.face.calibration import DEFAULT_THRESHOLD
from sightkit.tasks.face.detect import Box
from sightkit.tasks.face.embed import EMBEDDING_DIM
from sightkit.tasks.face.pipeline import FaceOptions, as_rgb_array, describe

__all__ = ["DEFAULT_THRESHOLD", "Box", "Comparison", "Face", "FaceGallery", "compare", "find"]


@dataclass(frozen=True)
class Face:
    """One face found in an image.

    ``box``: where it is, in pixels of the image as given (``left, top, right, bottom``,
    right/bottom exclusive; ``score`` and the ``source`` detector). ``landmarks``: named
    groups of ``(x, y)`` points, as ``face_recognition.face_landmarks`` names them
    ("left" is the image's left). ``embedding``: the 128-d float32 descriptor.
    ``eye_distance_px``: pixels between the eye centres, the face's resolution.
    """

    box: Box
    landmarks: dict[str, list[tuple[float, float]]]
    embedding: np.ndarray
    eye_distance_px: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: box, landmarks, eye distance and the embedding as a list of floats."""
        return {"box": self.box.to_dict(), "landmarks": self.landmarks,
                "eye_distance_px": round(self.eye_distance_px, 1), "embedding": self.embedding.tolist()}


@dataclass(frozen=True)
class Comparison:
    """How far apart two faces are and whether that is a match (``distance <= threshold``)."""

    distance: float
    match: bool
    threshold: float


def find(image: ImageSource, *, detector: str = "hog", upsample: int = 0, landmarks: int = 5,
         crops: bool | None = None) -> list[Face]:
    """Every face in ``image`` (a file, PIL image or array), best detection first.

    ``detector``: "hog" (fast; a miss is retried with the CNN) or "cnn". ``upsample``: double
    the image that many times first, for faces under ~80 px. ``landmarks``: 5 points (eye
    corners and nose, the points faces are aligned by) or 68 (chin, brows, nose, eyes, lips).
    ``crops=True``: the image is a face crop; when no detector fires, the whole image is
    taken as the face (``False``: never; ``None``, the default: decided per image, see
    :func:`~sightkit.tasks.face.pipeline.is_crop`). A face too small for the detector in a
    whole photo is looked for in enlarged copies. An image without a face gives ``[]``.

    Example:
        >>> import skimage.data                                       # doctest: +SKIP
        >>> [face.box.width for face in find(skimage.data.astronaut())]   # doctest: +SKIP
        [88]
    """
    options = FaceOptions(detector=detector, upsample=upsample, landmarks=landmarks, crops=crops)
    found = describe([as_rgb_array(load_image(image))], options)[0]
    return [Face(face.box, named_landmarks(face.landmarks), face.embedding, face.size_px) for face in found]


def compare(a: Face | np.ndarray, b: Face | np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> Comparison:
    """The Euclidean distance between two faces' descriptors, and whether it is at most ``threshold``.

    The default threshold is dlib's uncalibrated 0.6 (see the module notes); pass a
    calibrated gallery's ``threshold`` for decisions that matter.

    Example:
        >>> result = compare(find("badge.jpg")[0], find("door.jpg")[0])   # doctest: +SKIP
        >>> result.distance, result.match                                 # doctest: +SKIP
        (0.3712, True)
    """
    vectors = [_embedding(face) for face in (a, b)]
    distance = float(np.linalg.norm(vectors[0] - vectors[1]))
    return Comparison(distance, distance <= threshold, float(threshold))


def _embedding(face: Face | np.ndarray) -> np.ndarray:
    vector = np.asarray(face.embedding if isinstance(face, Face) else face, dtype=np.float32)
    if vector.shape != (EMBEDDING_DIM,):
        raise ConfigError(f"a face descriptor has {EMBEDDING_DIM} numbers, not shape {vector.shape}")
    return vector
