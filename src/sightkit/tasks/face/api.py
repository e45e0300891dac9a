"""The face-recognition facade that the CLI, the service and users call.

Example:
    >>> from sightkit.tasks.face.api import FaceGallery           # doctest: +SKIP
    >>> gallery = FaceGallery("people.db")                        # doctest: +SKIP
    >>> gallery.enroll("ada", ["ada1.jpg", "ada2.jpg"]).embeddings  # doctest: +SKIP
    110
    >>> [f.name for f in gallery.identify("door-cam.jpg")]        # doctest: +SKIP
    ['ada', 'unknown']
    >>> gallery.verify("ada1.jpg", "badge.jpg").same              # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sightkit.core.images import ImageSource, load_image
from sightkit.errors import ConfigError, FaceError, GalleryError, ImageError
from sightkit.tasks.face.calibration import DEFAULT_THRESHOLD
from sightkit.tasks.face.gallery import EmbeddingRow, GalleryStore, Person, check_location
from sightkit.tasks.face.index import PersonIndex
from sightkit.tasks.face.ladder import NATIVE, level_for, synthetic_views
from sightkit.tasks.face.occlusion import ranked_matches
from sightkit.tasks.face.pipeline import FaceOptions, as_rgb_array, describe, embed_faces
from sightkit.tasks.face.predict import (Enrollment, FaceNotUsable, Identification, Verification, check_image_size,
                                        check_pick, enrollment_views, one_face)


class FaceGallery:
    """A persistent gallery of enrolled people (one SQLite file) and the pipeline that describes faces.

    The face options, whether low-resolution ladder views are stored (``ladder``), whether
    aligned 150 px face chips are kept (``keep_images``, on by default: partly hidden faces
    are then matched occlusion-consistently, see :mod:`sightkit.tasks.face.occlusion`;
    ``keep_images=False`` stores descriptors only, no face pixels) and the match rule are
    fixed when the gallery is created; ``options`` given when opening an existing gallery apply to that session only.
    A new gallery's file is written by its first enrollment, so a failed one leaves no file.
    """

    def __init__(self, path: str | Path, *, create: bool = True, options: FaceOptions | None = None,
                 ladder: bool = True, keep_images: bool = True, match: str = "nearest") -> None:
        self._path = Path(path)
        self._settings = {"options": (options or FaceOptions()).to_dict(), "ladder": ladder,
                          "keep_images": keep_images, "match": match}
        self._store: GalleryStore | None = None
        if create and not self._path.exists():  # made by the first write: a failed enrollment leaves no file
            check_location(self._path)
            meta = self._settings
        else:
            self._store = GalleryStore.open(self._path, create=create, meta=self._settings)
            meta = self._store.meta()
        try:
            stored = FaceOptions(**meta.get("options", {}))
        except TypeError as exc:
            raise GalleryError(f"{path}: unreadable face options in the gallery ({exc})") from None
        self.options = options or stored
        self.ladder = bool(meta.get("ladder", True))
        self.keep_images = bool(meta.get("keep_images", False))  # galleries from before the setting kept none
        self.match = str(meta.get("match", "nearest"))
        self._indexes: dict[tuple[float, int], PersonIndex] = {}

    @property
    def path(self) -> Path:
        return self._path

    @property
    def store(self) -> GalleryStore:
        """The gallery file, opened (or created) on first use."""
        if self._store is None:
            self._store = GalleryStore.open(self._path, create=True, meta=self._settings)
        return self._store

    @property
    def threshold(self) -> float:
        """The calibrated distance threshold, or dlib's default 0.6 before calibration."""
        return float(self._meta().get("threshold", DEFAULT_THRESHOLD))

    @property
    def calibrated(self) -> bool:
        """Whether the threshold came from ``sightkit face calibrate`` (:meth:`set_threshold` with its figures).

        An uncalibrated gallery uses dlib's 0.6, which on att_faces named 6 of 12 strangers
        as enrolled people.
        """
        return "calibration" in self._meta()

    def _meta(self) -> dict[str, Any]:
        """The gallery's settings, without creating a gallery that does not exist yet."""
        return self._store.meta() if self._store is not None else self._settings

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> FaceGallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def enroll(self, name: str, images: Sequence[ImageSource], *, pick: str | None = None, replace: bool = False,
               progress: Callable[[int], None] | None = None) -> Enrollment:
        """Add images of ``name`` (``replace=True`` drops earlier ones); every image is checked first.

        Each image must show exactly one face (``pick="largest"`` takes the largest of
        several). Nothing is written unless all images pass.

        Example:
            >>> gallery.enroll("ada", ["ada1.jpg", "ada2.jpg"]).to_dict()       # doctest: +SKIP
            {'name': 'ada', 'enrolled': 2, 'skipped': [], 'images': 2, 'embeddings': 110}
        """
        return self.enroll_many({name: images}, pick=pick, replace=replace, progress=progress, skip_unusable=False)[0]

    def enroll_many(self, people: Mapping[str, Sequence[ImageSource]], *, pick: str | None = None,
                    replace: bool = False, progress: Callable[[int], None] | None = None,
                    skip_unusable: bool = True) -> list[Enrollment]:
        """Enroll several people in one transaction; images without one usable face are skipped and listed.

        An image is unusable when it cannot be read, shows no face, or several without
        ``pick="largest"``. A person none of whose images is usable is not added (their
        result has ``enrolled == 0``). When no image at all is usable, :class:`FaceError` is
        raised and nothing is written; with ``skip_unusable=False`` the first unusable image raises.

        Example:
            >>> results = gallery.enroll_many({"ada": ["ada1.jpg"], "bob": ["bob.jpg", "cat.jpg"]})  # doctest: +SKIP
            >>> [(r.name, r.enrolled, r.skipped) for r in results]                                  # doctest: +SKIP
            [('ada', 1, []), ('bob', 1, [('cat.jpg', 'no face found')])]
        """
        check_pick(pick)
        if not people:
            raise ConfigError("give at least one person to enroll")
        results, entries = [], []
        for name, images in people.items():
            result, rows, chips = self._describe_person(_checked_name(name, images), images, pick, skip_unusable,
                                                        progress)
            results.append(result)
            if rows:
                entries.append((result.name, rows, chips))
        if not entries:
            skipped = [f"{image}: {reason}" for r in results for image, reason in r.skipped]
            raise FaceError(f"no usable face in any of the {len(skipped)} images ({'; '.join(skipped[:3])}"
                            f"{'; ...' if len(skipped) > 3 else ''}); nothing was enrolled")
        self.store.add_people(entries, replace=replace)
        stored = {person.name: person for person in self.store.people()}
        for result in results:
            if result.enrolled:
                result.images, result.embeddings = stored[result.name].images, stored[result.name].embeddings
        return results

    def _describe_person(self, name: str, images: Sequence[ImageSource], pick: str | None, skip_unusable: bool,
                         progress: Callable[[int], None] | None
                         ) -> tuple[Enrollment, list[EmbeddingRow], list[tuple[str, np.ndarray]]]:
        """One person's enrollment rows and chips (nothing written), and which images were skipped and why."""
        result = Enrollment(name, 0)
        rows: list[EmbeddingRow] = []
        chips: list[tuple[str, np.ndarray]] = []
        for source in images:
            label = _label(source)
            try:
                views = enrollment_views(as_rgb_array(load_image(source)), self.options, self.ladder, label, pick)
            except (FaceNotUsable, ImageError) as exc:
                if not skip_unusable:
                    raise
                result.skipped.append((label, getattr(exc, "reason", None) or _without_prefix(str(exc))))
                views = []
            finally:
                if progress:
                    progress(1)
            rows += [EmbeddingRow(label, level, face.embedding) for level, face in views]
            if views and self.keep_images:
                chips.append((label, views[0][1].chip))
            result.enrolled += bool(views)
        return result, rows, chips

    def identify(self, image: ImageSource, *, top_k: int = 5, threshold: float | None = None) -> list[Identification]:
        """Every face in ``image`` with its ``top_k`` nearest people; beyond the threshold it is 'unknown'."""
        return self.identify_many([image], top_k=top_k, threshold=threshold)[0]

    def identify_many(self, images: Sequence[ImageSource], *, top_k: int = 5,
                      threshold: float | None = None) -> list[list[Identification]]:
        """:meth:`identify` for several images, their faces embedded in shared batches."""
        if top_k < 1:
            raise ConfigError("--top-k must be at least 1")
        limit = self.threshold if threshold is None else float(threshold)
        arrays = [as_rgb_array(load_image(source)) for source in images]
        for source, rgb in zip(images, arrays):
            check_image_size(rgb, _label(source))
        found = describe(arrays, self.options)
        results = []
        for source, faces in zip(images, found):
            row = []
            for face in faces:
                level = level_for(face.size_px) if self.ladder else NATIVE
                matches = ranked_matches(self._index(level), face, top_k,
                                         self.store.chips if self.keep_images else None, self.options.flip)
                row.append(Identification(_label(source), face, matches, limit, level))
            results.append(row)
        return results

    def verify(self, a: ImageSource, b: ImageSource, *, threshold: float | None = None,
               pick: str | None = None) -> Verification:
        """Whether the faces of ``a`` and ``b`` are one person, held to this gallery's threshold."""
        limit = self.threshold if threshold is None else threshold
        return verify_images(a, b, options=self.options, ladder=self.ladder, threshold=limit, pick=pick)

    def people(self) -> list[Person]:
        """Enrolled people, by name."""
        return self.store.people()

    def remove(self, name: str) -> int:
        """Delete ``name`` and all their embeddings (and chips) for good; returns the embeddings removed."""
        return self.store.remove(name)

    def set_threshold(self, threshold: float, calibration: dict[str, Any] | None = None) -> None:
        """Store a distance threshold (and the calibration it came from) in the gallery."""
        if not 0.0 < threshold < 4.0:
            raise ConfigError(f"threshold {threshold} is out of range; descriptor distances lie in 0-2")
        self.store.set_meta(threshold=float(threshold), **({"calibration": calibration} if calibration else {}))

    def _index(self, level: float) -> PersonIndex:
        revision = self.store.revision()
        key = (level, revision)
        if key not in self._indexes:
            levels = self.store.levels()
            use = level if level in levels else NATIVE
            vectors, names = self.store.embeddings(use)
            self._indexes = {key: PersonIndex(
                vectors, names, self.match,
                load_index=lambda: self.store.cached_index(use, revision),
                save_index=lambda data: self.store.cache_index(use, revision, data))} | {
                k: v for k, v in self._indexes.items() if k[1] == revision}
        return self._indexes[key]


def verify_images(a: ImageSource, b: ImageSource, *, options: FaceOptions | None = None, ladder: bool = True,
                  threshold: float = DEFAULT_THRESHOLD, pick: str | None = None) -> Verification:
    """Whether the faces of ``a`` and ``b`` are one person; a sharper face is matched at the other's resolution.

    The sharper face's ladder views at the smaller face's level are compared, the nearest counts
    (for a tiny face with jittered views: the mean over its views of that nearest distance).

    Example:
        >>> verify_images("badge.jpg", "door-cam.jpg").to_dict()      # doctest: +SKIP
        {'same': True, 'distance': 0.3712, 'threshold': 0.6, 'matched_at_eye_distance_px': None}
    """
    options = options or FaceOptions()
    rgbs = [as_rgb_array(load_image(source)) for source in (a, b)]
    faces = [one_face(rgb, options, _label(source), pick) for rgb, source in zip(rgbs, (a, b))]
    small = min(range(2), key=lambda i: faces[i].size_px)
    level = level_for(faces[small].size_px) if ladder else NATIVE
    others = [faces[1 - small]]
    if level != NATIVE:
        others = [view for at, view in synthetic_views(rgbs[1 - small], faces[1 - small], options) if at == level]
    embed_faces([faces[small], *others], options)
    nearest = [min(float(np.linalg.norm(view - other.embedding)) for other in others)
               for view in faces[small].embeddings()]
    distance = float(np.mean(nearest))
    return Verification(distance <= threshold, distance, float(threshold), level)


def _checked_name(name: str, images: Sequence[ImageSource]) -> str:
    """``name`` stripped; a :class:`ConfigError` for an empty or overlong name or no images."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ConfigError("NAME must be 1-200 characters")
    if not images:
        raise ConfigError(f"give at least one image of {name} to enroll")
    return name


def _without_prefix(message: str) -> str:
    """An error message without its leading ``file: `` (the file is named beside it)."""
    return message.split(": ", 1)[-1]


def _label(source: ImageSource) -> str:
    """A short name for an image in messages and results: the file name, or its kind."""
    if isinstance(source, (str, Path)):
        return Path(source).name
    return getattr(source, "name", None) or f"<{type(source).__name__}>"
