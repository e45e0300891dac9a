"""``POST /v1/enhance/upscale``: the uploaded image upscaled by the served super-resolution model, as PNG."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile
from fastapi.responses import Response

from sightkit.serve.batching import ModelWorker
from sightkit.serve.config import ServeConfig
from sightkit.serve.metrics import Metrics
from sightkit.serve.security import Upload, read_upload, require_key
from sightkit.serve.task import OneModelService, ServedTask, loaded

router = APIRouter(prefix="/v1/enhance", tags=["enhance"], dependencies=[Depends(require_key)])


class UpscaleService(OneModelService):
    """The upscaler on its worker thread (one image at a time: each is already tiled work)."""

    async def describe(self) -> dict[str, Any]:
        meta = self.worker.model.meta
        return {"name": self.name, "scale": self.worker.model.scale, "kind": meta.get("kind"),
                "architecture": (meta.get("architecture") or {}).get("name")}


async def start(config: ServeConfig, metrics: Metrics) -> UpscaleService | None:
    if config.upscaler is None:
        return None
    from sightkit.tasks.enhance.api import Upscaler

    worker = ModelWorker("upscale", lambda: Upscaler.load(config.upscaler))
    await worker.start()
    name = config.upscaler.replace("\\", "/").rsplit("/", 1)[-1]
    metrics.load_seconds.labels("enhance", name).set(worker.load_seconds)
    return UpscaleService(worker, name)


@router.post("/upscale", summary="Upscale an image; the answer is the PNG",
             responses={200: {"content": {"image/png": {}}, "description": "the upscaled image"}},
             response_class=Response)
async def upscale(request: Request, file: Annotated[UploadFile, File()],
                  service: UpscaleService = Depends(loaded("enhance", "--upscaler default-x4"))) -> Response:
    limit = request.app.state.config.max_upscale_pixels
    upload = await read_upload(file, request.app.state.config.max_pixels)
    if upload.width * upload.height > limit:
        raise HTTPException(413, f"{upload.name}: {upload.width}x{upload.height} is too large to upscale; "
                                 f"the limit is {limit:,} input pixels")
    png, size = await service.worker.call(_upscale_png, upload)
    scale = service.worker.model.scale
    return Response(png, media_type="image/png", headers={
        "X-Scale": str(scale), "X-Input-Size": f"{upload.width}x{upload.height}", "X-Output-Size": f"{size[0]}x{size[1]}"})


def _upscale_png(upscaler: Any, upload: Upload) -> tuple[bytes, tuple[int, int]]:
    image = upscaler.upscale(upload.stream())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), image.size


TASK = ServedTask("enhance", router, start)
