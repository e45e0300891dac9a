"""ONNX exports of bundles made on the fly for ``--backend onnx``, cached outside the bundle.

The first ``predict --backend onnx`` on a bundle folder or ``.sightkit`` file exports it
(with the usual parity check against torch) into the user's cache folder,
``$XDG_CACHE_HOME/sightkit/onnx/`` (else ``~/.cache/sightkit/onnx/``); later calls reuse the
file. Its name carries a hash of the bundle's weights and metadata, so a retrained bundle
gets a new export, and the file is written atomically, so a crash leaves no half file.

Example:
    >>> onnx_file = cached_onnx("runs/x/model")  # doctest: +SKIP
    >>> load_onnx_predictor(onnx_file).predict(["cat.jpg"])[0].label  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sightkit.core.bundle import bundle_digest

OPSET = 17


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/sightkit/onnx``, or ``~/.cache/sightkit/onnx`` when the variable is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sightkit" / "onnx"


def cached_onnx(bundle: str | Path, status: Callable[[str], None] | None = None) -> Path:
    """The cached ONNX export of ``bundle`` (dynamic batch, opset 17), exported first when missing.

    Raises :class:`~sightkit.errors.DeployError` (and caches nothing) when ONNX Runtime does
    not reproduce the model.
    """
    from sightkit.deploy.export import export_onnx

    path = cache_dir() / f"{bundle_digest(bundle)}-opset{OPSET}.onnx"
    if path.is_file():
        return path
    if status is not None:
        status(f"exporting {bundle} to ONNX once (parity-checked against torch); cached as {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(bundle, path, opset=OPSET, dynamic_batch=True)
    return path
