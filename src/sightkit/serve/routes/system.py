"""Routes of the service itself: health, what is loaded, metrics, and the web page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from sightkit import __version__
from sightkit.serve.metrics import CONTENT_TYPE
from sightkit.serve.security import require_key

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter()


@router.get("/healthz", tags=["service"], summary="Liveness: answers once the models are loaded")
async def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/v1/models", tags=["service"], dependencies=[Depends(require_key)],
            summary="What is loaded: classifiers, face gallery, upscaler, inpainter, detector, search catalogue, limits")
async def models(request: Request) -> dict[str, Any]:
    state = request.app.state
    services, config = state.services, state.config
    described = {name: await service.describe() for name, service in services.items()}
    return {"classifiers": described.get("classify", []), "faces": described.get("faces"),
            "upscaler": described.get("enhance"), "inpainter": described.get("inpaint"),
            "detector": described.get("detect"), "search": described.get("search"), "panels": list(services),
            "limits": {"max_upload_bytes": config.max_upload_bytes, "max_pixels": config.max_pixels,
                       "max_upscale_pixels": config.max_upscale_pixels,
                       "max_inpaint_pixels": config.max_inpaint_pixels},
            "auth": {"admin_key": bool(config.admin_key)}}


@router.get("/metrics", tags=["service"], dependencies=[Depends(require_key)], response_class=Response,
            summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")
