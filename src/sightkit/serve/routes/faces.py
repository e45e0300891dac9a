"""Face routes over one gallery: identify (micro-batched), verify, enroll, list and delete people."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Request, UploadFile

from sightkit.serve.batching import MicroBatcher, ModelWorker
from sightkit.serve.config import ServeConfig
from sightkit.serve.metrics import Metrics
from sightkit.serve.security import Upload, read_upload, require_admin_key, require_key
from sightkit.serve.task import ServedTask, loaded

router = APIRouter(prefix="/v1/faces", tags=["faces"], dependencies=[Depends(require_key)])
MAX_TOP_K = 20
MAX_ENROLL_IMAGES = 50


class FaceService:
    """The gallery, used only on its worker thread (SQLite and dlib stay on one thread)."""

    def __init__(self, worker: ModelWorker, batcher: MicroBatcher, name: str) -> None:
        self.worker, self.batcher, self.name = worker, batcher, name

    async def describe(self) -> dict[str, Any]:
        people = await self.worker.call(lambda gallery: len(gallery.people()))
        return {"gallery": self.name, "people": people, **await self.worker.call(_decision)}

    async def close(self) -> None:
        await self.batcher.close()
        await self.worker.call(lambda gallery: gallery.close())
        self.worker.close()


async def start(config: ServeConfig, metrics: Metrics) -> FaceService | None:
    """Open (or create) the ``--gallery`` on its own thread and warm the face models up."""
    if config.gallery is None:
        return None
    from sightkit.tasks.face.api import FaceGallery

    worker = ModelWorker("faces", lambda: FaceGallery(config.gallery))
    await worker.start()
    metrics.load_seconds.labels("faces", config.gallery.name).set(worker.load_seconds)
    batcher = MicroBatcher(worker, max_batch=config.max_batch, max_wait_s=config.max_wait_ms / 1000,
                           max_queue=config.max_queue, run=_identify_batch,
                           on_batch=metrics.batch_size.labels("faces").observe)
    return FaceService(worker, batcher, config.gallery.name)


Faces = Annotated[FaceService, Depends(loaded("faces", "--gallery people.db"))]


@router.post("/identify", summary="Identify every face in an image against the enrolled people")
async def identify(request: Request, file: Annotated[UploadFile, File()], service: Faces,
                   top_k: Annotated[int, Form(ge=1, le=MAX_TOP_K)] = 3) -> dict[str, Any]:
    upload = await read_upload(file, request.app.state.config.max_pixels)
    request.app.state.metrics.queue_depth.labels("faces").set(service.batcher.waiting)
    found, decision = await service.batcher.submit(upload)
    faces = []
    for identification in found:
        face = identification.to_dict()
        faces.append({"name": face["name"], "distance": face["distance"], "threshold": face["threshold"],
                      "box": face["box"], "top": face["top"][:top_k]})
    request.state.face_names = [face["name"] for face in faces]
    return {"faces": faces, "reason": None if faces else "no face found", **decision,
            "width": upload.width, "height": upload.height}


@router.post("/verify", summary="Whether two images show the same person")
async def verify(request: Request, a: Annotated[UploadFile, File()], b: Annotated[UploadFile, File()],
                 service: Faces) -> dict[str, Any]:
    limit = request.app.state.config.max_pixels
    first, second = await read_upload(a, limit), await read_upload(b, limit)
    result = await service.worker.call(lambda gallery: gallery.verify(first.stream(), second.stream()))
    return {**result.to_dict(), "calibrated": (await service.worker.call(_decision))["calibrated"]}


@router.post("", status_code=201, dependencies=[Depends(require_admin_key)],
             summary="Enroll a person from one or more photos (each must show one face)")
async def enroll(request: Request, name: Annotated[str, Form(min_length=1, max_length=100)],
                 file: Annotated[list[UploadFile], File(description="one or more photos of the person")],
                 service: Faces, replace: Annotated[bool, Form()] = False) -> dict[str, Any]:
    if len(file) > MAX_ENROLL_IMAGES:
        raise HTTPException(422, f"at most {MAX_ENROLL_IMAGES} photos per enrollment, not {len(file)}")
    limit = request.app.state.config.max_pixels
    uploads = [await read_upload(photo, limit) for photo in file]
    result = await service.worker.call(
        lambda gallery: gallery.enroll(name, [upload.stream() for upload in uploads], replace=replace))
    request.state.face_names = [result.name]
    return result.to_dict()


@router.get("", summary="The enrolled people")
async def people(service: Faces) -> dict[str, Any]:
    found = await service.worker.call(lambda gallery: [person.to_dict() for person in gallery.people()])
    return {"people": found, **await service.worker.call(_decision)}


@router.delete("/{name}", dependencies=[Depends(require_admin_key)], summary="Delete a person and their embeddings")
async def remove(request: Request, name: Annotated[str, Path(min_length=1, max_length=100)],
                 service: Faces) -> dict[str, Any]:
    def delete(gallery: Any) -> int | None:
        if name not in {person.name for person in gallery.people()}:
            return None
        return gallery.remove(name)

    removed = await service.worker.call(delete)
    if removed is None:
        raise HTTPException(404, f"no person named {name!r}")
    request.state.face_names = [name]
    return {"name": name, "removed_embeddings": removed}


def _decision(gallery: Any) -> dict[str, Any]:
    """The gallery's distance threshold and whether it was calibrated (read on the worker thread)."""
    return {"threshold": gallery.threshold, "calibrated": gallery.calibrated}


def _identify_batch(gallery: Any, uploads: list[Upload]) -> list[tuple[Any, dict[str, Any]]]:
    """Every face of every upload (descriptors computed in shared batches), each with the gallery's decision rule."""
    found = gallery.identify_many([upload.stream() for upload in uploads], top_k=MAX_TOP_K)
    decision = _decision(gallery)
    return [(faces, decision) for faces in found]


TASK = ServedTask("faces", router, start)
