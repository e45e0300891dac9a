"""``POST /v1/classify``: top-k labels of an uploaded image, micro-batched, with an optional Grad-CAM overlay.

``tta=true`` scores the mean of flipped and shifted views (six forward passes); those requests
skip the micro-batcher and run alone on the model's thread.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile

from sightkit.serve.batching import MicroBatcher, ModelWorker
from sightkit.serve.config import ServeConfig
from sightkit.serve.metrics import Metrics
from sightkit.serve.security import Upload, read_upload, require_key
from sightkit.serve.task import ServedTask, loaded

router = APIRouter(prefix="/v1", tags=["classify"], dependencies=[Depends(require_key)])
MAX_TOP_K = 100


class ClassifyService:
    """The served classifiers by name, each on its own worker thread behind a micro-batcher."""

    def __init__(self, workers: dict[str, ModelWorker], batchers: dict[str, MicroBatcher], paths: dict[str, Path]):
        self.workers, self.batchers, self.paths = workers, batchers, paths

    def pick(self, name: str | None) -> str:
        """The classifier called ``name``, or the first one when no name is given."""
        if name is None or name == "":
            return next(iter(self.workers))
        if name not in self.workers:
            raise HTTPException(400, f"no classifier named {name!r}; loaded: {', '.join(self.workers)}")
        return name

    async def describe(self) -> list[dict[str, Any]]:
        return [_describe(name, worker.model) for name, worker in self.workers.items()]

    async def close(self) -> None:
        for batcher in self.batchers.values():
            await batcher.close()
        for worker in self.workers.values():
            worker.close()


async def start(config: ServeConfig, metrics: Metrics) -> ClassifyService | None:
    """Load every ``--classifier`` bundle on its own thread."""
    if not config.classifiers:
        return None
    from sightkit.tasks.classify.api import Classifier

    workers, batchers = {}, {}
    for name, path in config.classifiers.items():
        worker = ModelWorker(f"classify-{name}", lambda path=path: Classifier.load(path))
        await worker.start()
        metrics.load_seconds.labels("classify", name).set(worker.load_seconds)
        workers[name] = worker
        batchers[name] = MicroBatcher(worker, max_batch=config.max_batch, max_wait_s=config.max_wait_ms / 1000,
                                      max_queue=config.max_queue, run=_predict_batch,
                                      on_batch=metrics.batch_size.labels(name).observe)
    return ClassifyService(workers, batchers, dict(config.classifiers))


@router.post("/classify", summary="Classify an image: top-k labels with calibrated probabilities")
async def classify(
    request: Request,
    file: Annotated[UploadFile, File(description="the image (JPEG, PNG, WebP, BMP, TIFF, GIF, PNM)")],
    model: Annotated[str | None, Form(description="which classifier (default: the first loaded)")] = None,
    top_k: Annotated[int, Form(ge=1, le=MAX_TOP_K)] = 5,
    explain: Annotated[Literal["none", "gradcam"], Form(description="add a Grad-CAM overlay (PNG, base64)")] = "none",
    tta: Annotated[bool, Form(description="test-time augmentation: mean of flipped and shifted views")] = False,
    service: ClassifyService = Depends(loaded("classify", "--classifier BUNDLE")),
) -> dict[str, Any]:
    name = service.pick(model)
    upload = await read_upload(file, request.app.state.config.max_pixels)
    batcher = service.batchers[name]
    request.app.state.metrics.queue_depth.labels(name).set(batcher.waiting)
    if tta:  # six forward passes: alone on the model's thread, not micro-batched
        prediction = (await service.workers[name].call(_predict_batch, [upload], True))[0]
    else:
        prediction = await batcher.submit(upload)
    answer = {"model": name, "tta": tta, "label": prediction.label, "score": prediction.score,
              "topk": [{"label": label, "score": score} for label, score in prediction.topk[:top_k]]}
    if explain == "gradcam":
        answer["explanation"] = await service.workers[name].call(_gradcam, upload)
    return answer


def _predict_batch(classifier: Any, uploads: list[Upload], tta: bool = False) -> list[Any]:
    """One forward pass for the whole batch (six with ``tta``), every class kept (each request cuts its own top k)."""
    return classifier.predict([upload.stream() for upload in uploads], top_k=min(MAX_TOP_K, len(classifier.classes)),
                              tta=tta)


def _gradcam(classifier: Any, upload: Upload) -> dict[str, Any]:
    explanation = classifier.explain(upload.stream(), method="gradcam")
    return {"method": "gradcam", "label": explanation.label, "score": explanation.score,
            "overlay_png": base64.b64encode(explanation.overlay_png()).decode("ascii")}


def _describe(name: str, classifier: Any) -> dict[str, Any]:
    meta = classifier.meta
    preprocessing = meta.get("preprocessing", {})
    metrics = meta.get("metrics") or {}
    return {"name": name, "classes": classifier.classes,
            "architecture": (meta.get("architecture") or {}).get("name"),
            "image_size": preprocessing.get("size"), "mode": preprocessing.get("mode"),
            "calibrated": bool(meta.get("calibration")),
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}}


TASK = ServedTask("classify", router, start)
