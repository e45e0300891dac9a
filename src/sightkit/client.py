"""A Python client of ``sightkit serve`` with the verbs of the local API.

Switching from local to remote is one line: the answers are the same kinds of objects
(``classify``/``predict`` give sightkit's own
:class:`~sightkit.tasks.classify.predict.Prediction`), and errors are the same sightkit
exceptions, carrying the server's ``detail`` sentence.

Example:
    >>> from sightkit.client import Client                          # doctest: +SKIP
    >>> with Client("http://127.0.0.1:8000", api_key="s3cret") as api:  # doctest: +SKIP
    ...     api.classify("leaf.jpg").label                           # like Classifier.predict("leaf.jpg")[0]
    ...     [face.name for face in api.identify("door-cam.jpg")]     # like FaceGallery.identify
    ...     api.upscale("small.png").size                            # like Upscaler.upscale
    ...     api.inpaint("photo.png", "mask.png").size                # like Inpainter.inpaint
    'healthy'
    ['ada']
    (512, 512)
    (640, 480)

Errors: 413/415 raise :class:`~sightkit.errors.ImageError`; on the face routes 404 raises
:class:`~sightkit.errors.GalleryError` and 422 :class:`~sightkit.errors.FaceError`; an unusable
inpainting mask (422) raises :class:`~sightkit.errors.EnhanceError`; other
400/422 raise :class:`~sightkit.errors.ConfigError`; 401, 403, 404 of a task that is not
loaded, 503, any other status and an unreachable server raise :class:`ServiceError`
(``.status``, ``.retry_after``). Every raised error has ``.status`` and ``.request_id``.
"""

from __future__ import annotations

import io
import mimetypes
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

import httpx
import numpy as np
from PIL import Image

from sightkit.errors import ConfigError, EnhanceError, FaceError, GalleryError, ImageError, SightkitError

if TYPE_CHECKING:
    from sightkit.tasks.classify.predict import Prediction

KEEPALIVE_S = 2.0
"""Seconds an idle connection is kept; below the 5 s after which uvicorn (``sightkit serve``) closes it."""

ImageInput = str | Path | bytes | BinaryIO | Image.Image | np.ndarray
"""What the verbs take as an image: a path, encoded bytes, a binary file, a PIL image or an array."""

__all__ = ["Client", "Enrollment", "Explanation", "FaceBox", "IdentifiedFace", "ImageInput", "Person",
           "ServiceError", "Verification"]


class ServiceError(SightkitError):
    """The service refused or failed a request: a missing/wrong key (401), a non-admin key (403),
    a task the server has not loaded (404), a full queue (503: wait ``retry_after`` seconds),
    another server error, or no answer at all (``status`` None)."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(message)
        self.status, self.retry_after, self.request_id = status, retry_after, request_id


@dataclass(frozen=True)
class Explanation:
    """Why the model chose ``label``: the server's Grad-CAM overlay as PNG bytes, with the prediction."""

    method: str
    label: str
    score: float
    overlay_png: bytes
    prediction: Prediction

    @property
    def overlay(self) -> Image.Image:
        """The overlay as a PIL image (the heatmap over the input)."""
        return Image.open(io.BytesIO(self.overlay_png))


@dataclass(frozen=True)
class FaceBox:
    """Where a face is, in pixels of the image sent (right/bottom exclusive), and which detector found it."""

    left: int
    top: int
    right: int
    bottom: int
    score: float
    detector: str


@dataclass(frozen=True)
class IdentifiedFace:
    """One face of a probe image: its name ("unknown" beyond the threshold), distance, box and nearest people."""

    name: str
    distance: float | None
    threshold: float
    box: FaceBox
    matches: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Verification:
    """Whether two images show one person (``distance <= threshold``)."""

    same: bool
    distance: float
    threshold: float
    calibrated: bool


@dataclass(frozen=True)
class Enrollment:
    """One enrollment: images enrolled now, images skipped and why, and the totals stored for the person."""

    name: str
    enrolled: int
    skipped: list[tuple[str, str]]
    images: int
    embeddings: int


@dataclass(frozen=True)
class Person:
    """One enrolled person: images and embeddings stored, and when (the server's local time, as text)."""

    name: str
    images: int
    embeddings: int
    enrolled: str


class Client:
    """A connection to one ``sightkit serve`` (sync, on httpx); close it, or use it as a context manager.

    ``transport`` replaces httpx's network transport (e.g. ``httpx.MockTransport`` in tests).
    The client is thread-safe; :meth:`predict` sends several requests at once so that the
    server can batch them.

    Example:
        >>> api = Client("http://127.0.0.1:8000")                  # doctest: +SKIP
        >>> api.predict(["a.png", "b.png"], top_k=2)[1].topk        # doctest: +SKIP
        [('dark', 0.91), ('bright', 0.06)]
        >>> api.close()                                             # doctest: +SKIP
    """

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.url = url.rstrip("/")
        # idle connections are dropped before uvicorn's 5 s keep-alive ends: a request sent on a
        # connection the server is closing would fail with ReadError
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_S)
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport,
                                  limits=limits)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- service ---------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "version": ...}`` (needs no key)."""
        return self._call("GET", "/healthz").json()

    def models(self) -> dict[str, Any]:
        """What the server has loaded: classifiers, face gallery, upscaler, page panels, limits."""
        return self._call("GET", "/v1/models").json()

    # -- classify --------------------------------------------------------------------------
    def classify(self, image: ImageInput, top_k: int = 5, model: str | None = None, *,
                 tta: bool = False) -> Prediction:
        """Top-k calibrated prediction of one image, as ``Classifier.predict(image, top_k, tta=tta)[0]``.

        ``model`` names one of the server's classifiers (default: its first); ``tta`` asks for the
        mean of flipped and shifted views.

        Example:
            >>> api.classify("leaf.jpg", top_k=2, tta=True).topk       # doctest: +SKIP
            [('healthy', 0.97), ('rust', 0.02)]
        """
        return self._classify(image, top_k, model, "none", tta=tta)[0]

    def explain(self, image: ImageInput, method: str = "gradcam", model: str | None = None,
                top_k: int = 5) -> Explanation:
        """The prediction of one image with the server's heatmap overlay, as ``Classifier.explain``.

        Example:
            >>> e = api.explain("leaf.jpg")                            # doctest: +SKIP
            >>> e.label, e.overlay.size, e.prediction.topk[0]          # doctest: +SKIP
            ('healthy', (64, 64), ('healthy', 0.97))
        """
        prediction, answer = self._classify(image, top_k, model, method)
        info = answer.get("explanation") or {}
        if not info.get("overlay_png"):
            raise ServiceError(f"the service sent no {method} explanation", status=200)
        import base64

        return Explanation(info.get("method", method), info["label"], float(info["score"]),
                           base64.b64decode(info["overlay_png"]), prediction)

    def predict(self, images: ImageInput | Sequence[ImageInput], top_k: int = 5, model: str | None = None, *,
                skip_errors: bool = False, concurrency: int = 8, tta: bool = False) -> list[Prediction]:
        """Predictions for images, folders or globs in order, as ``Classifier.predict``.

        Up to ``concurrency`` requests are in flight at once (the server batches them). An
        image the server refuses raises :class:`ImageError`, or with ``skip_errors`` gives a
        Prediction whose ``error`` is set.
        """
        from sightkit.tasks.classify.predict import UNKNOWN, Prediction, expand_image_paths

        sources: list[ImageInput] = []
        for image in images if isinstance(images, (list, tuple)) else [images]:
            sources += expand_image_paths([image]) if isinstance(image, (str, Path)) else [image]

        def one(index_source: tuple[int, ImageInput]) -> Prediction:
            index, source = index_source
            try:
                return self._classify(source, top_k, model, "none", index, tta=tta)[0]
            except ImageError as exc:
                if not skip_errors:
                    raise
                return Prediction(_name(source, index), UNKNOWN, 0.0, [], error=str(exc))

        with ThreadPoolExecutor(max(1, min(concurrency, len(sources)))) as pool:
            return list(pool.map(one, enumerate(sources)))

    def _classify(self, image: ImageInput, top_k: int, model: str | None, explain: str,
                  index: int = 0, *, tta: bool = False) -> tuple[Prediction, dict[str, Any]]:
        from sightkit.tasks.classify.predict import Prediction

        data = {"top_k": str(top_k), "explain": explain, **({"model": model} if model else {}),
                **({"tta": "true"} if tta else {})}
        answer = self._call("POST", "/v1/classify", data=data, files=[_upload("file", image)]).json()
        topk = [(item["label"], float(item["score"])) for item in answer.get("topk", [])]
        return Prediction(_name(image, index), answer["label"], float(answer["score"]), topk), answer

    # -- faces -----------------------------------------------------------------------------
    def identify(self, image: ImageInput, top_k: int = 3) -> list[IdentifiedFace]:
        """Every face in ``image`` with its ``top_k`` nearest people, as ``FaceGallery.identify``.

        An image without a face gives ``[]``.
        """
        answer = self._call("POST", "/v1/faces/identify", data={"top_k": str(top_k)},
                            files=[_upload("file", image)], faces=True).json()
        return [IdentifiedFace(face["name"], face.get("distance"), float(face["threshold"]), FaceBox(**face["box"]),
                               [(m["name"], float(m["distance"])) for m in face.get("top", [])])
                for face in answer.get("faces", [])]

    def verify(self, a: ImageInput, b: ImageInput) -> Verification:
        """Whether the faces of ``a`` and ``b`` are one person, held to the gallery's threshold."""
        answer = self._call("POST", "/v1/faces/verify", files=[_upload("a", a), _upload("b", b)], faces=True).json()
        return Verification(bool(answer["same"]), float(answer["distance"]), float(answer["threshold"]),
                            bool(answer.get("calibrated", False)))

    def enroll(self, name: str, images: ImageInput | Sequence[ImageInput], replace: bool = False) -> Enrollment:
        """Add images of ``name`` to the server's gallery (``replace=True`` drops earlier ones)."""
        many = images if isinstance(images, (list, tuple)) else [images]
        files = [_upload("file", image, i) for i, image in enumerate(many)]
        answer = self._call("POST", "/v1/faces", data={"name": name, "replace": str(replace).lower()},
                            files=files, faces=True).json()
        return Enrollment(answer["name"], int(answer["enrolled"]),
                          [(s["image"], s["reason"]) for s in answer.get("skipped", [])],
                          int(answer.get("images", 0)), int(answer.get("embeddings", 0)))

    def people(self) -> list[Person]:
        """Enrolled people, by name."""
        answer = self._call("GET", "/v1/faces", faces=True).json()
        return [Person(p["name"], int(p["images"]), int(p["embeddings"]), str(p.get("enrolled", "")))
                for p in answer.get("people", [])]

    def remove(self, name: str) -> int:
        """Delete ``name`` and their embeddings; returns the embeddings removed."""
        answer = self._call("DELETE", f"/v1/faces/{quote(name, safe='')}", faces=True).json()
        return int(answer["removed_embeddings"])

    # -- enhance ---------------------------------------------------------------------------
    def upscale(self, image: ImageInput) -> Image.Image:
        """The image upscaled by the server's model, as ``Upscaler.upscale``."""
        response = self._call("POST", "/v1/enhance/upscale", files=[_upload("file", image)])
        result = Image.open(io.BytesIO(response.content))
        result.load()
        return result

    def inpaint(self, image: ImageInput, mask: ImageInput | None = None,
                box: tuple[int, int, int, int] | None = None) -> Image.Image:
        """``image`` with the ``mask``'s white pixels (or the ``box`` x, y, w, h) filled, as ``Inpainter.inpaint``.

        ``mask``: an image of the image's size (white = fill), or a bool array. Every other
        pixel comes back unchanged. An unusable mask raises :class:`EnhanceError`.

        Example:
            >>> api.inpaint("photo.jpg", box=(40, 30, 64, 48)).save("filled.png")  # doctest: +SKIP
        """
        if (mask is None) == (box is None):
            raise ConfigError("inpaint: give exactly one of mask and box")
        if isinstance(mask, np.ndarray) and mask.dtype == bool:
            mask = mask.astype(np.uint8) * 255
        files = [_upload("file", image)] + ([_upload("mask", mask, 1)] if mask is not None else [])
        data = {"box": ",".join(str(int(v)) for v in box)} if box is not None else {}
        response = self._call("POST", "/v1/enhance/inpaint", data=data, files=files, enhance=True)
        result = Image.open(io.BytesIO(response.content))
        result.load()
        return result

    def detect(self, image: ImageInput, score: float | None = None, nms: float | None = None) -> list[dict[str, Any]]:
        """Boxes the served detector finds in ``image``: dicts with label, score, x1, y1, x2, y2 (pixels).

        Example:
            >>> [box["label"] for box in api.detect("street.jpg", score=0.5)]  # doctest: +SKIP
            ['car', 'pedestrian']
        """
        data = {name: str(value) for name, value in (("score", score), ("nms", nms)) if value is not None}
        return self._call("POST", "/v1/detect", data=data, files=[_upload("file", image)]).json()["boxes"]

    def search(self, image: ImageInput, k: int = 10, thumbnails: bool = False) -> list[dict[str, Any]]:
        """The served catalogue's ``k`` images most similar to ``image``: dicts with rank, path, score.

        Example:
            >>> [hit["path"] for hit in api.search("red-shoe.jpg", k=2)]  # doctest: +SKIP
            ['/shop/catalogue/shoes/0042.jpg', '/shop/catalogue/shoes/0007.jpg']
        """
        data = {"k": str(k), "thumbnails": str(thumbnails).lower()}
        return self._call("POST", "/v1/search", data=data, files=[_upload("file", image)]).json()["results"]

    # -- plumbing --------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, faces: bool = False, enhance: bool = False,
              **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ServiceError(f"{self.url}{path}: no answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ServiceError(f"{self.url}: cannot reach the service ({exc})") from None
        if response.is_success:
            return response
        raise _error(response, faces, enhance)


def _error(response: httpx.Response, faces: bool, enhance: bool = False) -> SightkitError:
    """The sightkit error for a refused request, with the server's ``detail`` sentence."""
    status, request_id = response.status_code, response.headers.get("X-Request-ID")
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        body, detail = None, None
    if not isinstance(detail, str):
        detail = str(detail) if detail else (response.text[:200].strip() or response.reason_phrase)
    if status in (413, 415):
        exc: SightkitError = ImageError(detail)
    elif faces and status == 404 and _is_person_route(response):
        exc = GalleryError(detail)
    elif faces and status == 422:
        exc = FaceError(detail)
    elif enhance and status == 422:
        exc = EnhanceError(detail)
    elif status in (400, 422):
        exc = ConfigError(detail)
    else:
        exc = ServiceError(f"HTTP {status}: {detail}", status, _seconds(response.headers.get("Retry-After")),
                           request_id)
    exc.status, exc.request_id = status, request_id  # type: ignore[attr-defined]
    return exc


def _is_person_route(response: httpx.Response) -> bool:
    """A 404 that is about a person (``DELETE /v1/faces/NAME``), not about a face task that is not loaded."""
    return response.request.method == "DELETE"


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _upload(field_name: str, image: ImageInput, index: int = 0) -> tuple[str, tuple[str, bytes, str]]:
    """One multipart part: files and bytes are sent as they are, PIL images and arrays as PNG."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
        return field_name, (path.name, content, mimetypes.guess_type(path.name)[0] or "application/octet-stream")
    if isinstance(image, (bytes, bytearray, memoryview)):
        return field_name, (f"image{index}", bytes(image), "application/octet-stream")
    if isinstance(image, np.ndarray):
        from sightkit.core.images import load_image

        image = load_image(image, mode=None)  # the loader's conversions: uint16, float 0-1, HxWx1
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return field_name, (f"image{index}.png", buffer.getvalue(), "image/png")
    if hasattr(image, "read"):
        content = image.read()
        name = Path(str(getattr(image, "name", f"image{index}"))).name
        return field_name, (name, content, "application/octet-stream")
    raise ImageError(f"{type(image).__name__}: not an image; give a path, bytes, a file, a PIL image or an array")


def _name(source: ImageInput, index: int) -> str:
    """The ``path`` of a Prediction, as the local predictor names it."""
    return str(source) if isinstance(source, (str, Path)) else f"<image {index}>"
