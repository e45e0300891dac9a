"""Keys, upload limits and content sniffing: what keeps the service safe to expose.

- :func:`key_checker` is the FastAPI dependency behind ``X-API-Key`` (constant-time compare).
- :class:`BodyLimit` refuses a body over the limit with 413, from ``Content-Length`` or
  while it streams, before the multipart parser spools it anywhere.
- :func:`read_upload` sniffs the bytes (never the file name or the client's content type)
  and refuses non-images (415) and images over the pixel limit (413) before decoding them.

Example:
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO(); Image.new("RGB", (4, 3)).save(buffer, "PNG")
    >>> upload = sniff_image(buffer.getvalue(), "x.png", max_pixels=100)
    >>> upload.width, upload.height
    (4, 3)
"""

from __future__ import annotations

import io
import secrets
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, UploadFile
from PIL import Image, UnidentifiedImageError

from sightkit.core.dicom import dicom_header, is_dicom, read_dataset
from sightkit.errors import ImageError


API_KEY_HEADER = "X-API-Key"
Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def key_checker(keys: Callable[[Request], tuple[str, ...]]) -> Callable[[Request], None]:
    """A dependency that lets a request through when its ``X-API-Key`` is one of ``keys(request)``.

    No keys configured means no check. Missing or wrong key: 401; a valid key that is not
    allowed here (an ordinary key on an admin route): 403.
    """
    def check(request: Request) -> None:
        allowed = keys(request)
        if not allowed:
            return
        given = request.headers.get(API_KEY_HEADER, "")
        if any(secrets.compare_digest(given.encode(), key.encode()) for key in allowed):
            return
        config = request.app.state.config
        if given and config.api_key and secrets.compare_digest(given.encode(), config.api_key.encode()):
            raise HTTPException(403, "this key may not enroll or delete faces; use the admin key")
        raise HTTPException(401, f"missing or wrong API key; send it in the {API_KEY_HEADER} header",
                            headers={"WWW-Authenticate": "ApiKey"})
    return check


def user_keys(request: Request) -> tuple[str, ...]:
    """Keys that may call the ordinary routes (the admin key may too)."""
    config = request.app.state.config
    return tuple(k for k in (config.api_key, config.admin_key) if k)


def admin_keys(request: Request) -> tuple[str, ...]:
    """Keys that may enroll and delete: the admin key when set, else the ordinary key."""
    config = request.app.state.config
    return (config.admin_key,) if config.admin_key else user_keys(request)


require_key = key_checker(user_keys)
require_admin_key = key_checker(admin_keys)


class BodyLimit:
    """ASGI middleware: 413 for request bodies over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen, over = 0, False

        async def limited_receive() -> dict:
            # Past the limit, the body is cut short: the app fails to parse it, and its
            # answer is replaced by the 413 below.
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                over = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: dict) -> None:
            if not over:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)
        if over:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Callable[[dict], Awaitable[None]]) -> None:
        from sightkit.serve.errors import error_response

        limit = f"{self.max_bytes / (1024 * 1024):.3g} MB"
        response = error_response(413, f"the upload is over the limit of {limit}", scope.get("state", {}).get("request_id"))
        await response(scope, _no_body, send)


async def _no_body() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


@dataclass(frozen=True)
class Upload:
    """An uploaded image, checked by its header but not decoded: its bytes, safe name and size."""

    name: str
    data: bytes
    width: int
    height: int

    def stream(self) -> io.BytesIO:
        """A fresh file object of the bytes, named for messages (sightkit's loader reads it)."""
        stream = io.BytesIO(self.data)
        stream.name = self.name
        return stream


async def read_upload(upload: UploadFile, max_pixels: int) -> Upload:
    """The upload, sniffed: 415 when it is not an image, 413 when it has too many pixels, 422 when empty."""
    return sniff_image(await upload.read(), _display_name(upload.filename), max_pixels)


def sniff_image(data: bytes, name: str, max_pixels: int) -> Upload:
    """Check that ``data`` is an image by its content alone, from its header (nothing is decoded yet)."""
    if not data:
        raise HTTPException(422, f"{name}: the upload is empty")
    if is_dicom(None, data[:132]):
        width, height = _dicom_size(data, name)
    else:
        width, height = _pillow_size(data, name, max_pixels)
    if width * height > max_pixels:
        raise HTTPException(413, f"{name}: {width}x{height} is {width * height:,} pixels; "
                                 f"the limit is {max_pixels:,}")
    return Upload(name, data, width, height)


def _dicom_size(data: bytes, name: str) -> tuple[int, int]:
    """One frame's size from a DICOM header; 415 (naming the upload, never the patient) when it holds no image."""
    try:
        width, height, _ = dicom_header(read_dataset(io.BytesIO(data), name, header_only=True), name)
    except ImageError as exc:
        raise HTTPException(415, str(exc)) from None
    return width, height


def _pillow_size(data: bytes, name: str, max_pixels: int) -> tuple[int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise HTTPException(413, f"{name}: too many pixels; the limit is {max_pixels:,}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise HTTPException(415, f"{name}: not an image (send JPEG, PNG, WebP, BMP, TIFF, GIF, PNM or "
                                 "DICOM)") from exc
    return width, height


def _display_name(filename: str | None) -> str:
    """The upload's base name, short and printable, for messages (never a path)."""
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:80]
    return name or "upload"


PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` and no framing on every answer; a strict content policy on the page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = scope["path"] == "/" or scope["path"].startswith("/static/")

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                         (b"referrer-policy", b"no-referrer")]
                if page:
                    extra.append((b"content-security-policy", PAGE_POLICY.encode()))
                message["headers"] = [*(message.get("headers") or []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
