"""``POST /v1/detect``: the objects a detection bundle finds in the uploaded image, as JSON boxes.

Boxes are in the image's own pixels (x to the right, y down), highest score first; ``score``
and ``nms`` override the bundle's thresholds for one request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from sightkit.serve.batching import ModelWorker
from sightkit.serve.config import ServeConfig
from sightkit.serve.metrics import Metrics
from sightkit.serve.security import Upload, read_upload, require_key
from sightkit.serve.task import OneModelService, ServedTask, loaded

router = APIRouter(prefix="/v1", tags=["detect"], dependencies=[Depends(require_key)])


class DetectService(OneModelService):
    """The detector on its worker thread (one image at a time)."""

    async def describe(self) -> dict[str, Any]:
        detector = self.worker.model
        return {"name": self.name, "classes": detector.classes,
                "architecture": (detector.meta.get("architecture") or {}).get("name")}


async def start(config: ServeConfig, metrics: Metrics) -> DetectService | None:
    if config.detector is None:
        return None
    from sightkit.tasks.detect.api import Detector

    worker = ModelWorker("detect", lambda: Detector.load(config.detector))
    await worker.start()
    path = config.detector.resolve()
    name = path.parent.name if path.stem == "model" else path.stem
    metrics.load_seconds.labels("detect", name).set(worker.load_seconds)
    return DetectService(worker, name)


@router.post("/detect", summary="Boxes of the objects in an image")
async def detect(request: Request, file: Annotated[UploadFile, File(description="the image")],
                 score: Annotated[float | None, Form(ge=0, le=1, description="lowest score kept "
                                                                             "[default: the bundle's]")] = None,
                 nms: Annotated[float | None, Form(gt=0, le=1, description="IoU above which the lower-scored "
                                                                           "of two boxes is dropped")] = None,
                 service: DetectService = Depends(loaded("detect", "--detector BUNDLE"))) -> dict[str, Any]:
    upload = await read_upload(file, request.app.state.config.max_pixels)
    boxes = await service.worker.call(_detect, upload, score, nms, request.app.state.config.max_pixels)
    return {"file": upload.name, "width": upload.width, "height": upload.height, "model": service.name,
            "boxes": boxes}


def _detect(detector: Any, upload: Upload, score: float | None, nms: float | None,
            max_pixels: int) -> list[dict[str, Any]]:
    from sightkit.core.images import load_image

    image = load_image(upload.stream(), mode="RGB", max_pixels=max_pixels)
    return [box.to_dict() for box in detector.predict(image, score=score, nms=nms)]


TASK = ServedTask("detect", router, start)
