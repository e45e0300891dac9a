"""Where the pretrained weights of a timm model come from, decided in seconds, not after a minute of retries.

Left alone, timm asks the Hugging Face hub for weights and, offline, retries for about 50 s
before failing. :func:`pretrained_source` first looks in the local caches (Hugging Face's and
torch.hub's); only when the weights are not there does it try to reach the hub, with a
:data:`CONNECT_TIMEOUT_S` connection timeout, and fails with one clear error when it cannot.

Example:
    >>> overlay = pretrained_source("resnet18")  # doctest: +SKIP
    >>> timm.create_model("resnet18", pretrained=True, pretrained_cfg_overlay=overlay or None)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sightkit.errors import ModelError

CONNECT_TIMEOUT_S = 3.0
# File names timm looks for in a hub repository, best first.
_HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")


def pretrained_source(name: str) -> dict[str, Any]:
    """A timm ``pretrained_cfg_overlay`` for ``name``: ``{"file": path}`` from a local cache, or ``{}`` to download.

    Raises :class:`ModelError` within about :data:`CONNECT_TIMEOUT_S` seconds when the weights
    are neither cached nor reachable.
    """
    import timm

    cfg = timm.get_pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise ModelError(f"--pretrained: timm has no pretrained weights for {name}; use --weights FILE")
    cached = _cached_hf_file(cfg) if cfg.hf_hub_id else None
    if cached is None and cfg.url:
        cached = _cached_url_file(cfg.url)
    if cached is not None:
        return {"file": str(cached)}
    endpoint = _hf_endpoint() if cfg.hf_hub_id else cfg.url
    problem = _unreachable(endpoint)
    if problem:
        host = urlparse(endpoint).netloc
        raise ModelError(f"--pretrained: the weights of {name} are not cached and {host} cannot be reached "
                         f"({problem}); use --weights FILE offline, or retry when online")
    return {}


def _cached_hf_file(cfg: Any) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    repo, _, revision = cfg.hf_hub_id.partition("@")
    names = [cfg.hf_hub_filename] if getattr(cfg, "hf_hub_filename", None) else _HF_WEIGHT_FILES
    for filename in names:
        found = try_to_load_from_cache(repo, filename, revision=revision or None)
        if isinstance(found, str):
            return Path(found)
    return None


def _cached_url_file(url: str) -> Path | None:
    import torch.hub

    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    return path if path.is_file() else None


def _hf_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def _unreachable(url: str) -> str | None:
    """Why a TCP connection to ``url``'s host fails within the timeout, or ``None`` when it succeeds."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__
