"""From an image to described faces: restore, detect, align, embed.

The steps, each switchable through :class:`FaceOptions` (and measured in
``benchmarks/faces.py``):

1. an image smaller than ``upscale_to`` px tall is enlarged (bicubic, optional sharpening);
2. a large solid occluder is found and filled (mirror of the visible half, then inpainting);
3. faces are detected with HOG, then the CNN detector if HOG finds none (``fallback``),
   then, for face crops (``crops``, decided per image by default), a partly hidden face takes the best HOG window
   near the crop's centre even below the detection threshold (``weak_window``,
   :func:`~sightkit.tasks.face.detect.centred_weak_box`), and otherwise the whole image is
   taken as the face and aligned by its landmarks alone; in a whole photo with an occluder,
   the best weak HOG window touching the occluder
   (:func:`~sightkit.tasks.face.detect.weak_box_by_occluder`);
4. a face under ``MIN_FACE_PX`` wide is cut out and enlarged before its landmarks are fitted;
5. 5- (or 68-) point landmarks give an aligned 150 px chip, embedded by dlib's ResNet,
   averaged with its mirror image (``flip``); unless an occluder was found, the landmarks
   are first refitted inside the chip they give (``refine_landmarks``,
   :func:`~sightkit.tasks.face.align.refine_landmarks`);
6. a face under ``TINY_EYE_PX`` between the eyes is also described from jittered copies
   (``probe_jitter``, :mod:`sightkit.tasks.face.jitter`), matched by the mean distance.

Example:
    >>> faces = describe([load_image("group.jpg")], FaceOptions(upsample=1))[0]   # doctest: +SKIP
    >>> [(f.box.left, f.box.top, f.box.width) for f in faces]                   # doctest: +SKIP
    [(212, 80, 96), (410, 95, 88)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
from PIL import Image

from sightkit.errors import ConfigError
from sightkit.tasks.face.align import check_landmarks, face_chip, fit_landmarks, landmark_points, refine_landmarks
from sightkit.tasks.face.detect import (Box, centred_weak_box, check_detector, detect_faces, faint_face,
                                       weak_box_by_occluder, whole_image_box)
from sightkit.tasks.face.embed import embed_chips
from sightkit.tasks.face.jitter import JITTERS, jittered, nearest, surroundings
from sightkit.tasks.face.restore import fill_occluder, find_occluder, upscale

# Faces narrower than this (px) are enlarged before landmark fitting; dlib's HOG window is 80 px.
MIN_FACE_PX = 40
# ... to about this width.
_FACE_TARGET_PX = 100
# Margin around a small face's box (share of its size) kept when it is cut out and enlarged.
_MARGIN = 0.5
# At most this much enlargement: past 8x bicubic adds only blur.
_MAX_FACTOR = 8.0
# Automatic crop decision: an image where no face is found may be a face crop up to this
# size (att_faces 92x112, LFW 250x250); a larger one is a photo without a (findable) face.
CROP_MAX_SIDE = 256
# Whole photos: enlarged copies searched for faces too small for HOG go up to this factor
# (a 10 px face to 80 px) and this many pixels (HOG takes about 0.5 s on 2.5 Mpx).
_MAX_SEARCH_FACTOR = 8.0
_MAX_SEARCH_PIXELS = 2_500_000
# Faces with fewer pixels than this between the eyes also get jittered views: on att_faces it
# helped 16 px tall probes (4-5 px: rank-1 77.2 -> 79.4%) and not 24 px ones (about 7 px).
TINY_EYE_PX = 6.0
# An occluded face is also refitted in its box scaled by these factors and shifted by these
# shares of its size (landmarks drift when part of the face is hidden; see ``occlusion``).
_REFIT_SCALES = (0.8, 0.9, 1.0)
_REFIT_SHIFTS = ((0.0, 0.0), (0.08, 0.0), (-0.08, 0.0), (0.0, 0.08), (0.0, -0.08))


OCCLUDER_FILLS = ("harmonic", "learned")


@dataclass(frozen=True)
class FaceOptions:
    """How faces are found and described; defaults are sightkit's measured best at interactive speed.

    ``crops``: True when the images are face crops (when no detector fires, the face is the
    whole image, or a partly hidden face the best centred HOG window); False for whole
    photos; None (default) decides per image where no face was found (:func:`is_crop`).

    Example:
        >>> FaceOptions(detector="cnn", upsample=0).detector
        'cnn'
    """

    detector: str = "hog"
    upsample: int = 0
    fallback: bool = True
    crops: bool | None = None
    landmarks: int = 5
    upscale_to: int = 112
    sharpen: float = 0.0
    flip: bool = True
    fill_occluders: bool = True
    occluder_fill: str = "harmonic"  # or "learned": the shipped face inpainting model where the mirror is hidden too
    probe_jitter: bool = True
    refine_landmarks: bool = True
    weak_window: bool = True

    def __post_init__(self) -> None:
        """Check the options a user can give before any image is read or model loaded."""
        check_detector(self.detector, self.upsample)
        check_landmarks(self.landmarks)
        if self.occluder_fill not in OCCLUDER_FILLS:
            raise ConfigError(f"occluder_fill must be one of {', '.join(OCCLUDER_FILLS)}, not {self.occluder_fill!r}")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Face:
    """One face: where it is (original image pixels), its landmarks, chip and descriptor.

    ``size_px`` is the distance between the eye centres in the original image, the face's
    resolution; ``occluded`` the share of its box that a filled occluder covered, and
    ``hidden`` that occluder's pixels in the chip (for occlusion-consistent matching);
    ``views`` the same face described from jittered copies (tiny faces only); ``refit``
    computes, on demand, ``(chip, hidden)`` pairs of other landmark fits of an occluded face.
    """

    box: Box
    landmarks: np.ndarray
    chip: np.ndarray = field(repr=False)
    size_px: float
    occluded: float = 0.0
    embedding: np.ndarray | None = field(default=None, repr=False)
    hidden: np.ndarray | None = field(default=None, repr=False)
    views: list[Face] = field(default_factory=list, repr=False)
    refit: Callable[[], list[tuple[np.ndarray, np.ndarray]]] | None = field(default=None, repr=False)

    def embeddings(self) -> np.ndarray:
        """The descriptors of the face and of its jittered views, one row each."""
        return np.stack([self.embedding, *(view.embedding for view in self.views)])

    def alignments(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(chip, hidden)`` of the face as aligned, then of its refits (occluded faces only).

        The refits are fitted here, not during detection: only occlusion-consistent matching needs them.
        """
        if self.hidden is None:
            return []
        return [(self.chip, self.hidden), *(self.refit() if self.refit else [])]

    def to_dict(self) -> dict[str, Any]:
        return {**self.box.to_dict(), "eye_distance_px": round(self.size_px, 1), "occluded": round(self.occluded, 3),
                "landmarks": np.round(self.landmarks, 1).tolist()}


def find_faces(rgb: np.ndarray, options: FaceOptions) -> list[Face]:
    """The faces in one ``H x W x 3`` uint8 image (no descriptors yet), best detection first."""
    work, factor, hog = _working_image(rgb, options)
    found = hog if options.detector == "hog" and hog else None  # already detected in the working image
    occluder = find_occluder(work) if options.fill_occluders else None
    if occluder is not None:
        first = found if found is not None else detect_faces(work, options.detector, options.upsample)
        axis = (first[0].left + first[0].right) / 2 if first else work.shape[1] / 2
        work = fill_occluder(work, occluder, axis, learned=options.occluder_fill == "learned")
        found = None
    boxes = found or detect_faces(work, options.detector, options.upsample, fallback=options.fallback)
    if not boxes and is_crop(rgb, options, occluder is not None, work):
        weak = centred_weak_box(work) if occluder is not None and options.weak_window else None
        boxes = [weak if weak is not None else whole_image_box(work)]
    elif not boxes and occluder is not None and options.weak_window:
        weak = weak_box_by_occluder(work, occluder)
        boxes = [weak] if weak is not None else []
    faces = [_align(work, box, factor, occluder, options) for box in boxes]
    if options.probe_jitter:
        for face in faces:
            if face.size_px < TINY_EYE_PX:
                face.views = _jittered_views(rgb, face, options)
    return faces


def _working_image(rgb: np.ndarray, options: FaceOptions) -> tuple[np.ndarray, float, list[Box]]:
    """The image the detectors and landmarks work on, its scale, and the HOG boxes found in it.

    An image under ``upscale_to`` px tall is enlarged to that height. In a whole photo (not
    ``crops``) a face too small for the HOG detector (about 80 px) is then looked for in
    copies enlarged 2x, 4x, 8x (bicubic, up to :data:`_MAX_SEARCH_PIXELS`), and the first
    copy in which HOG finds a face is the working image. The boxes are empty when HOG was
    not run (``crops=True``) or found nothing.
    """
    work, factor = rgb, 1.0
    if rgb.shape[0] < options.upscale_to:
        factor = options.upscale_to / rgb.shape[0]
        work = upscale(rgb, factor, options.sharpen)
    if options.crops is True:
        return work, factor, []
    boxes = detect_faces(work, "hog", options.upsample)
    search = factor
    while not boxes and search * 2 <= _MAX_SEARCH_FACTOR and rgb.size / 3 * (search * 2) ** 2 <= _MAX_SEARCH_PIXELS:
        search *= 2
        larger = upscale(rgb, search, options.sharpen)
        boxes = detect_faces(larger, "hog", options.upsample)
        if boxes:
            return larger, search, boxes
    return work, factor, boxes


def is_crop(rgb: np.ndarray, options: FaceOptions, occluded: bool = False, work: np.ndarray | None = None) -> bool:
    """Whether an image in which no face was found is taken as a face crop (see ``FaceOptions.crops``).

    Automatically (``crops=None``): an image at most :data:`CROP_MAX_SIDE` px on its longer
    side that is either ``occluded`` (a solid occluder was found: a partly hidden face), or
    under ``upscale_to`` px tall (a low-resolution crop) with a faint face-like HOG window
    in its enlarged copy ``work`` (:func:`~sightkit.tasks.face.detect.faint_face`). Other
    small images (a blank or flat thumbnail) stay "no face".

    Example:
        >>> blank, crop, photo = (np.zeros(shape, np.uint8) for shape in ((24, 20, 3), (112, 92, 3), (240, 320, 3)))
        >>> is_crop(blank, FaceOptions()), is_crop(crop, FaceOptions(), occluded=True)
        (False, True)
        >>> is_crop(photo, FaceOptions(), occluded=True), is_crop(photo, FaceOptions(crops=True))
        (False, True)
    """
    if options.crops is not None:
        return options.crops
    if max(rgb.shape[:2]) > CROP_MAX_SIDE:
        return False
    return occluded or (rgb.shape[0] < options.upscale_to and faint_face(rgb if work is None else work))


def describe(images: Sequence[np.ndarray], options: FaceOptions) -> list[list[Face]]:
    """Faces with descriptors for each image; all chips are embedded in shared batches.

    Example:
        >>> [len(faces) for faces in describe(arrays, FaceOptions(crops=True))]  # doctest: +SKIP
        [1, 1, 2]
    """
    found = [find_faces(rgb, options) for rgb in images]
    embed_faces([face for faces in found for face in faces], options)
    return found


def embed_faces(faces: Sequence[Face], options: FaceOptions) -> None:
    """Fill in ``face.embedding`` for each face and its jittered views, in batches."""
    every = [one for face in faces for one in (face, *face.views)]
    vectors = embed_chips([one.chip for one in every], flip=options.flip)
    for one, vector in zip(every, vectors):
        one.embedding = vector


def as_rgb_array(image: Image.Image) -> np.ndarray:
    """A loaded image as the contiguous ``H x W x 3`` uint8 array dlib expects."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _jittered_views(rgb: np.ndarray, face: Face, options: FaceOptions) -> list[Face]:
    """The tiny ``face`` found again, with the same options, in jittered copies of the photo around it.

    Jitters in which the face is not found again are left out.
    """
    box = face.box
    region, offset = surroundings(rgb, box.left, box.top, box.right, box.bottom)
    view_options = replace(options, probe_jitter=False)
    views = []
    for shift_x, shift_y, size in JITTERS[1:]:
        centre = (np.array([(box.left + box.right) / 2, (box.top + box.bottom) / 2]) - offset) * size
        centre += (shift_x, shift_y)
        found = nearest(find_faces(jittered(region, shift_x, shift_y, size), view_options), centre, box.width * size)
        if found is not None:
            views.append(found)
    return views


def _align(work: np.ndarray, box: Box, factor: float, occluder: np.ndarray | None, options: FaceOptions) -> Face:
    """Landmarks and chip of ``box`` in the working image; coordinates mapped back to the original."""
    region, offset, local = work, np.zeros(2), 1.0
    occluder_region = occluder
    if box.width < MIN_FACE_PX and box.source != "whole":
        region, offset, local = _enlarged_region(work, box)
        if occluder is not None:
            occluder_region = _enlarged_region(occluder.astype(np.uint8) * 255, box)[0] > 127
    local_box = Box(round((box.left - offset[0]) * local), round((box.top - offset[1]) * local),
                    round((box.right - offset[0]) * local), round((box.bottom - offset[1]) * local),
                    box.score, box.source)
    shape = fit_landmarks(region, local_box, options.landmarks)
    if options.refine_landmarks and occluder is None:
        shape = refine_landmarks(region, shape, options.landmarks)
    points = (landmark_points(shape) / local + offset) / factor
    share = float(occluder[box.top:box.bottom, box.left:box.right].mean()) if occluder is not None else 0.0
    face = Face(box.scaled(1.0 / factor), points, face_chip(region, shape), _eye_distance(points), share)
    if occluder_region is not None:
        face.hidden = _chip_mask(occluder_region, shape)
        face.refit = partial(_refits, region, local_box, occluder_region, options.landmarks)
    return face


def _refits(region: np.ndarray, box: Box, occluder: np.ndarray, points: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(chip, hidden)`` of landmarks fitted again in ``box`` scaled and shifted by the ``_REFIT_*`` amounts."""
    refits = []
    for scale in _REFIT_SCALES:
        width, height = box.width * scale, box.height * scale
        for dx, dy in _REFIT_SHIFTS:
            if scale == 1.0 and dx == dy == 0.0:
                continue
            cx, cy = (box.left + box.right) / 2 + dx * box.width, (box.top + box.bottom) / 2 + dy * box.height
            moved = Box(round(cx - width / 2), round(cy - height / 2), round(cx + width / 2), round(cy + height / 2),
                        box.score, box.source)
            shape = fit_landmarks(region, moved, points)
            refits.append((face_chip(region, shape), _chip_mask(occluder, shape)))
    return refits


def _chip_mask(mask: np.ndarray, shape: Any) -> np.ndarray:
    """A boolean image-space ``mask`` cut and aligned exactly as the face chip of ``shape`` is."""
    layers = np.ascontiguousarray(np.repeat(mask.astype(np.uint8)[..., None] * 255, 3, axis=-1))
    return face_chip(layers, shape)[..., 0] > 127


def _enlarged_region(work: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray, float]:
    """A small face cut out with a margin and enlarged: (region, its top-left in work, scale)."""
    margin_x, margin_y = round(box.width * _MARGIN), round(box.height * _MARGIN)
    left, top = max(0, box.left - margin_x), max(0, box.top - margin_y)
    right, bottom = min(work.shape[1], box.right + margin_x), min(work.shape[0], box.bottom + margin_y)
    scale = min(_MAX_FACTOR, _FACE_TARGET_PX / max(1, box.width))
    return upscale(work[top:bottom, left:right], scale), np.array([left, top], dtype=float), scale


def _eye_distance(points: np.ndarray) -> float:
    """Distance between the eye centres of a 5-point (two corners per eye) or 68-point shape."""
    if len(points) == 5:
        first, second = points[0:2].mean(axis=0), points[2:4].mean(axis=0)
    else:
        first, second = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    return float(np.linalg.norm(first - second))
