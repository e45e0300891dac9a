"""``POST /v1/enhance/inpaint``: the uploaded image with the masked (or boxed) pixels filled, as PNG.

The mask is an image of the photo's size, white (>= 50%) where to fill; a mask with an alpha
channel that is not fully opaque is read by its alpha (transparent = keep). ``box=x,y,w,h``
fills one rectangle instead. Every pixel outside the mask comes back exactly as sent.
"""

from __future__ import annotations

import io
import re
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response
from PIL import Image, UnidentifiedImageError

from sightkit.serve.batching import ModelWorker
from sightkit.serve.config import ServeConfig
from sightkit.serve.metrics import Metrics
from sightkit.serve.security import Upload, read_upload, require_key
from sightkit.serve.task import OneModelService, ServedTask, loaded

router = APIRouter(prefix="/v1/enhance", tags=["enhance"], dependencies=[Depends(require_key)])
_BOX = re.compile(r"^\s*(\d{1,9})\s*,\s*(\d{1,9})\s*,\s*(\d{1,9})\s*,\s*(\d{1,9})\s*$")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class InpaintService(OneModelService):
    """The inpainter on its worker thread (one image at a time: each is already windowed work)."""

    async def describe(self) -> dict[str, Any]:
        meta = self.worker.model.meta
        return {"name": self.name, "kind": meta.get("kind"),
                "architecture": (meta.get("architecture") or {}).get("name")}


async def start(config: ServeConfig, metrics: Metrics) -> InpaintService | None:
    if config.inpainter is None:
        return None
    from sightkit.tasks.enhance.inpaint.api import Inpainter

    worker = ModelWorker("inpaint", lambda: Inpainter.load(config.inpainter))
    await worker.start()
    name = config.inpainter.replace("\\", "/").rsplit("/", 1)[-1]
    metrics.load_seconds.labels("inpaint", name).set(worker.load_seconds)
    return InpaintService(worker, name)


@router.post("/inpaint", summary="Fill the masked part of an image; the answer is the PNG",
             responses={200: {"content": {"image/png": {}}, "description": "the image with the mask filled"}},
             response_class=Response)
async def inpaint(request: Request, file: Annotated[UploadFile, File(description="the image")],
                  # Typed without "| None" so that OpenAPI shows a plain file part (clients send it as one).
                  mask: Annotated[UploadFile, File(description="white = fill, black = keep; "
                                                              "the image's size")] = None,  # type: ignore[assignment]
                  box: Annotated[str | None, Form(description="x,y,w,h: fill this rectangle instead of a mask",
                                                  max_length=64)] = None,
                  service: InpaintService = Depends(loaded("inpaint", "--inpainter general"))) -> Response:
    config = request.app.state.config
    if (mask is None) == (box is None):
        raise HTTPException(422, "give exactly one of mask (an image of the photo's size, white = fill) "
                                 "and box (x,y,w,h)")
    upload = await read_upload(file, config.max_pixels)
    if upload.width * upload.height > config.max_inpaint_pixels:
        raise HTTPException(413, f"{upload.name}: {upload.width}x{upload.height} is too large to inpaint; "
                                 f"the limit is {config.max_inpaint_pixels:,} pixels")
    hole: Upload | np.ndarray = await read_upload(mask, config.max_pixels) if mask is not None \
        else _box_mask(box or "", upload.width, upload.height)
    png, filled, notes = await service.worker.call(_inpaint_png, upload, hole, config.max_pixels)
    headers = {"X-Image-Size": f"{upload.width}x{upload.height}", "X-Filled-Fraction": f"{filled:.6f}"}
    if notes:
        headers["X-Notes"] = "; ".join(notes)
    return Response(png, media_type="image/png", headers=headers)


def _box_mask(value: str, width: int, height: int) -> np.ndarray:
    """The bool mask of ``box=x,y,w,h`` (422 unless it is four whole numbers inside the image)."""
    from sightkit.tasks.enhance.inpaint.api import box_mask

    found = _BOX.match(value)
    x, y, w, h = (int(v) for v in found.groups()) if found else (0, 0, 0, 0)
    if not found or w <= 0 or h <= 0 or x >= width or y >= height:
        raise HTTPException(422, f"box: give x,y,w,h (whole numbers, w and h above 0) with x,y inside the "
                                 f"{width}x{height} image")
    return box_mask((width, height), (x, y, w, h))


def _inpaint_png(inpainter: Any, upload: Upload, hole: Upload | np.ndarray,
                 max_pixels: int) -> tuple[bytes, float, list[str]]:
    """The filled image as PNG, the share of its pixels filled, and notes (a resized mask)."""
    from sightkit.core.images import load_image
    from sightkit.tasks.enhance.inpaint.predict import binary_mask

    image = load_image(upload.stream(), mode="RGBA" if _has_alpha(upload) else None, max_pixels=max_pixels)
    if isinstance(hole, Upload):
        picture = load_image(hole.stream(), mode="RGBA" if _has_alpha(hole) else "L", max_pixels=max_pixels)
        notes: list[str] = []
        hole = binary_mask(picture, image.size, notes.append)
    else:
        notes = []
    result = inpainter.inpaint(image, hole)
    buffer = io.BytesIO()
    result.save(buffer, format="PNG")
    return buffer.getvalue(), float(hole.mean()), notes


def _has_alpha(upload: Upload) -> bool:
    try:
        with Image.open(io.BytesIO(upload.data)) as probe:
            return probe.mode in _ALPHA_MODES or "transparency" in probe.info
    except (UnidentifiedImageError, OSError):  # DICOM, which the upload check also accepts, has no alpha
        return False


TASK = ServedTask("inpaint", router, start)
