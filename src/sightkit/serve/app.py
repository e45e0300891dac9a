"""The FastAPI app: models loaded once at start-up, each task's routes, the page, and the safety layers.

Example:
    >>> from pathlib import Path
    >>> from fastapi.testclient import TestClient                         # doctest: +SKIP
    >>> app = create_app(ServeConfig(classifiers={"pets": Path("runs/pets/model")}))  # doctest: +SKIP
    >>> with TestClient(app) as client:                                   # doctest: +SKIP
    ...     client.post("/v1/classify", files={"file": open("cat.jpg", "rb")}).json()["label"]
    'cat'
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from sightkit import __version__
from sightkit.serve.access_log import RequestContext
from sightkit.serve.config import ServeConfig
from sightkit.serve.errors import install_error_handlers
from sightkit.serve.metrics import Metrics
from sightkit.serve.routes import TASKS, system
from sightkit.serve.security import API_KEY_HEADER, BodyLimit, SecurityHeaders

log = logging.getLogger("sightkit.serve")


def create_app(config: ServeConfig) -> FastAPI:
    """The service for ``config``; its models load when the app starts (uvicorn or ``TestClient``)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = app.state.services
        try:
            for task in TASKS:
                service = await task.start(config, metrics)
                if service is not None:
                    services[task.name] = service
                    log.info("loaded %s", task.name)
            yield
        finally:  # uvicorn lets in-flight requests finish before this runs
            for service in reversed(list(services.values())):
                await service.close()
            services.clear()

    app = FastAPI(title="sightkit", version=__version__, lifespan=lifespan,
                  description="Image recognition: classification with explanations, faces, upscaling, inpainting. "
                              f"Send the API key in the `{API_KEY_HEADER}` header when the server has one.")
    app.state.config, app.state.metrics, app.state.services = config, metrics, {}
    install_error_handlers(app)
    app.include_router(system.router)
    for task in TASKS:
        app.include_router(task.router)
    app.mount("/static", StaticFiles(directory=system.STATIC), name="static")
    # Outermost last: request id + access log, then security headers, then the body limit.
    app.add_middleware(BodyLimit, max_bytes=config.max_upload_bytes)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=[API_KEY_HEADER, "X-Request-ID"], expose_headers=["X-Request-ID"])
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext, metrics=metrics, log_names=config.log_names)
    return app
