"""``sightkit serve``: the REST API and web page over classifiers, a face gallery, an upscaler, an inpainter, a detector and a search catalogue."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from sightkit.cli._output import status
from sightkit.errors import BundleError, ConfigError


def serve(
    classifier: Optional[list[str]] = typer.Option(
        None, "--classifier", "-c", metavar="[NAME=]BUNDLE",
        help="A classify bundle to serve (repeat for several); NAME defaults to the bundle's folder name."),
    gallery: Optional[Path] = typer.Option(None, "--gallery", metavar="GALLERY",
                                           help="Face gallery (SQLite) to identify against; created when missing."),
    upscaler: Optional[str] = typer.Option(None, "--upscaler", metavar="MODEL",
                                           help="Shipped model (default-x2, default-x4, gan-x2, gan-x4) or an enhance bundle."),
    inpainter: Optional[str] = typer.Option(None, "--inpainter", metavar="NAME_OR_BUNDLE",
                                            help="Shipped inpainter (general, face) or an inpaint bundle."),
    detector: Optional[Path] = typer.Option(None, "--detector", metavar="BUNDLE", help="A detect bundle to serve."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", metavar="DB",
                                           help="A search catalogue (from 'sightkit search index') to query."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; beyond loopback an API key is required."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="SIGHTKIT_API_KEY", show_envvar=True,
                                          help="Key that clients send in X-API-Key (8+ characters)."),
    admin_key: Optional[str] = typer.Option(None, "--admin-key", envvar="SIGHTKIT_ADMIN_KEY", show_envvar=True,
                                            help="The only key that may enroll and delete faces."),
    cors_origin: Optional[list[str]] = typer.Option(None, "--cors-origin", metavar="ORIGIN",
                                                    help="Allow browser pages from ORIGIN to call the API (repeatable)."),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", min=0.001, help="Largest request body, in MB."),
    max_pixels: int = typer.Option(40_000_000, "--max-pixels", min=64, help="Largest image, in pixels."),
    max_batch: int = typer.Option(32, "--max-batch", min=1, help="Most requests in one micro-batch."),
    max_wait_ms: float = typer.Option(5.0, "--max-wait-ms", min=0, max=1000,
                                      help="How long a batch waits for more requests, in ms."),
    max_queue: int = typer.Option(256, "--max-queue", min=1, help="Requests waiting per model before 503."),
    log_names: bool = typer.Option(False, "--log-names", help="Write identified face names to the access log."),
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the web page (at /)."""
    from sightkit.serve.config import ServeConfig

    config = ServeConfig(
        classifiers=_named_bundles(classifier or []), gallery=gallery, upscaler=upscaler, inpainter=inpainter,
        detector=detector, catalog=catalog,
        host=host, port=port, api_key=api_key, admin_key=admin_key, cors_origins=cors_origin or [],
        max_upload_mb=max_upload_mb, max_pixels=max_pixels, max_batch=max_batch, max_wait_ms=max_wait_ms,
        max_queue=max_queue, log_names=log_names)
    _check_models(config)
    _run(config)


def _named_bundles(values: list[str]) -> dict[str, Path]:
    """``NAME=BUNDLE`` or ``BUNDLE`` options -> {name: path}, names unique."""
    bundles: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or Path(value).exists():
            path = value
            name = Path(value).stem if Path(value).stem != "model" else Path(value).resolve().parent.name
        if not name or name in bundles:
            raise ConfigError(f"--classifier {value}: {'give a name' if not name else f'the name {name!r} is taken'};"
                              " use NAME=BUNDLE")
        bundles[name] = Path(path)
    return bundles


def _check_models(config: object) -> None:
    """Fail fast, with one line, on a model that cannot load (before the server starts)."""
    from sightkit.core.bundle import read_meta
    from sightkit.tasks.enhance.inpaint.shipped import resolve_inpaint_model
    from sightkit.tasks.enhance.shipped import resolve_model

    for name, path in config.classifiers.items():
        if not path.exists():
            raise BundleError(f"--classifier {path}: no such bundle")
        if path.suffix != ".onnx" and read_meta(path)["task"] != "classify":
            raise BundleError(f"--classifier {path}: a {read_meta(path)['task']} bundle, not a classifier")
    if config.gallery is not None and not config.gallery.parent.is_dir():
        raise ConfigError(f"--gallery {config.gallery}: the folder {config.gallery.parent} does not exist")
    if config.upscaler is not None:
        resolve_model(config.upscaler)
    if config.inpainter is not None:
        path = resolve_inpaint_model(config.inpainter)
        if read_meta(path)["task"] != "inpaint":
            raise BundleError(f"--inpainter {config.inpainter}: a {read_meta(path)['task']} bundle, not an inpainter")
    if config.detector is not None:
        if not config.detector.exists():
            raise BundleError(f"--detector {config.detector}: no such bundle")
        if read_meta(config.detector)["task"] != "detect":
            raise BundleError(f"--detector {config.detector}: a {read_meta(config.detector)['task']} bundle, "
                              "not a detector")
    if config.catalog is not None:
        from sightkit.errors import CatalogError
        from sightkit.tasks.search.api import SearchIndex

        try:
            SearchIndex.open(config.catalog).close()  # a catalogue, its model present and unchanged
        except CatalogError as exc:
            raise CatalogError(f"--catalog {exc}") from None
    if not (config.classifiers or config.gallery or config.upscaler or config.inpainter or config.detector
            or config.catalog):
        status("note: no model given (--classifier, --gallery, --upscaler, --inpainter, --detector, --catalog): "
               "only /healthz and the page will answer")


def _run(config: object) -> None:
    import uvicorn

    from sightkit.serve.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    loaded = [f"classifier {name}" for name in config.classifiers]
    if config.gallery is not None:
        loaded.append(f"gallery {config.gallery.name}")
    if config.upscaler is not None:
        loaded.append(f"upscaler {config.upscaler}")
    if config.inpainter is not None:
        loaded.append(f"inpainter {config.inpainter}")
    if config.detector is not None:
        loaded.append(f"detector {config.detector}")
    if config.catalog is not None:
        loaded.append(f"search catalogue {config.catalog}")
    status(f"loading {', '.join(loaded) or 'nothing'}; page at http://{_url_host(config.host)}:{config.port}/, "
           "API docs at /docs")
    uvicorn.run(create_app(config), host=config.host, port=config.port, access_log=False, log_level="warning",
                timeout_graceful_shutdown=30, timeout_keep_alive=15, server_header=False)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
