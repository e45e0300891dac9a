"""One error shape for every failure: ``{"detail": "...", "request_id": "..."}``, never a traceback.

Example:
    >>> error_response(404, "no person named 'ada'", "3f2a").body
    b'{"detail":"no person named \\'ada\\'","request_id":"3f2a"}'
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sightkit.errors import (BundleError, ConfigError, EnhanceError, FaceError, GalleryError, ImageError,
                             SightkitError)
from sightkit.serve.batching import Overloaded

log = logging.getLogger("sightkit.serve")

# A user-fixable error from a facade, as an HTTP status.
STATUS_OF_ERROR: tuple[tuple[type[SightkitError], int], ...] = (
    (ImageError, 422), (FaceError, 422), (EnhanceError, 422), (ConfigError, 422), (GalleryError, 404),
    (BundleError, 500),
)
_ABSOLUTE_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[^/\s:'\"]+)+/([^/\s:'\"]+)")


def error_response(status: int, detail: str, request_id: str | None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error answer (with the request id header when known)."""
    headers = {**(headers or {}), **({"X-Request-ID": request_id} if request_id else {})}
    return JSONResponse({"detail": detail, "request_id": request_id}, status_code=status, headers=headers)


def without_paths(message: str) -> str:
    """``message`` with absolute paths cut to their last part: server paths stay on the server.

    Example:
        >>> without_paths("/srv/models/people.db: no person named 'x'")
        "people.db: no person named 'x'"
    """
    return _ABSOLUTE_PATH.sub(r"\1", message)


def _api_message(exc: SightkitError) -> str:
    """The error's message; for an unusable face photo without the command-line hints."""
    image, reason = getattr(exc, "image", None), getattr(exc, "reason", None)
    return f"{image}: {reason}" if image and reason else str(exc)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to :func:`error_response`."""

    def request_id(request: Request) -> str | None:
        return getattr(request.state, "request_id", None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), request_id(request), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return error_response(422, "; ".join(problems), request_id(request))

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return error_response(503, str(exc), request_id(request), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(SightkitError)
    async def user_error(request: Request, exc: SightkitError) -> JSONResponse:
        status = next((code for kind, code in STATUS_OF_ERROR if isinstance(exc, kind)), 422)
        if status >= 500:
            log.error("request %s failed: %s", request_id(request), exc)
            return error_response(status, "internal error; the server log has the details", request_id(request))
        return error_response(status, without_paths(_api_message(exc)), request_id(request))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed", request_id(request))
        return error_response(500, "internal error; the server log has the details", request_id(request))
