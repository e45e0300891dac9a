"""``POST /v1/search``: the catalogue images most similar to the uploaded one, as JSON.

The catalogue is a ``sightkit search index`` file; its own model embeds the upload. Each
hit has its rank, path and cosine similarity; ``thumbnails=true`` adds a small JPEG of each
hit as a ``data:`` URI (the page shows them; the paths are on the server's disk).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from sightkit.serve.batching import ModelWorker
from sightkit.serve.config import ServeConfig
from sightkit.serve.metrics import Metrics
from sightkit.serve.security import Upload, read_upload, require_key
from sightkit.serve.task import OneModelService, ServedTask, loaded

router = APIRouter(prefix="/v1", tags=["search"], dependencies=[Depends(require_key)])

MAX_K = 100


class SearchService(OneModelService):
    """The catalogue and its model on their worker thread (one query at a time)."""

    async def describe(self) -> dict[str, Any]:
        return await self.worker.call(_describe, self.name)

    async def close(self) -> None:
        await self.worker.call(lambda index: index.close())
        await super().close()


async def start(config: ServeConfig, metrics: Metrics) -> SearchService | None:
    if config.catalog is None:
        return None
    from sightkit.tasks.search.api import SearchIndex

    def load() -> Any:
        index = SearchIndex.open(config.catalog)
        index.model  # noqa: B018  (load the model now, not on the first request)
        return index

    worker = ModelWorker("search", load)
    await worker.start()
    name = config.catalog.stem
    metrics.load_seconds.labels("search", name).set(worker.load_seconds)
    return SearchService(worker, name)


@router.post("/search", summary="Catalogue images most similar to an image")
async def search(request: Request, file: Annotated[UploadFile, File(description="the query image")],
                 k: Annotated[int, Form(ge=1, le=MAX_K, description="how many results")] = 10,
                 thumbnails: Annotated[bool, Form(description="add a small JPEG of each hit (data: URI)")] = False,
                 service: SearchService = Depends(loaded("search", "--catalog DB"))) -> dict[str, Any]:
    upload = await read_upload(file, request.app.state.config.max_pixels)
    hits = await service.worker.call(_search, upload, k, thumbnails, request.app.state.config.max_pixels)
    return {"file": upload.name, "catalogue": service.name, "k": k, "results": hits}


def _search(index: Any, upload: Upload, k: int, thumbnails: bool, max_pixels: int) -> list[dict[str, Any]]:
    from sightkit.core.images import load_image

    image = load_image(upload.stream(), mode="RGB", max_pixels=max_pixels)
    hits = [hit.to_dict() for hit in index.query(image, k)]
    if thumbnails:
        from sightkit.tasks.search.html import thumbnail_uri

        for hit in hits:
            hit["thumbnail"] = thumbnail_uri(hit["path"], side=128)
    return hits


def _describe(index: Any, name: str) -> dict[str, Any]:
    info = index.info
    return {"name": name, "images": info["images"], "model": info.get("bundle"), "digest": info.get("digest")}


TASK = ServedTask("search", router, start)
