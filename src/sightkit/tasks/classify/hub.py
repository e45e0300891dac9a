"""Where the pretrained weights of a timm model come from, decided in seconds, not after a minute of retries.

Left alone, timm asks the Hugging Face hub for weights and, offline, retries for about 50 s
before failing. :func:`pretrained_source` first looks in the local caches (Hugging Face's and
torch.hub's); only when the weights are not there does it ask the hub for them, with one HEAD
request per file and a :data:`CONNECT_TIMEOUT_S` timeout, and fails with one clear error when
they cannot be fetched (no network, a proxy that answers 404, ``HF_HUB_OFFLINE``).

Example:
    >>> overlay = pretrained_source("resnet18")  # doctest: +SKIP
    >>> timm.create_model("resnet18", pretrained=True, pretrained_cfg_overlay=overlay or None)  # doctest: +SKIP
"""

from __future__ import annotations

import os
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
    problem = _probe_hf(cfg) if cfg.hf_hub_id else _probe(cfg.url)
    if problem:
        raise ModelError(f"--pretrained: the weights of {name} are not cached and cannot be downloaded "
                         f"({problem}); use --weights FILE offline, or retry when online")
    return {}


def _cached_hf_file(cfg: Any) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    repo, _, revision = cfg.hf_hub_id.partition("@")
    for filename in _hf_files(cfg):
        found = try_to_load_from_cache(repo, filename, revision=revision or None)
        if isinstance(found, str):
            return Path(found)
    return None


def _cached_url_file(url: str) -> Path | None:
    import torch.hub

    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    return path if path.is_file() else None


def _probe_hf(cfg: Any) -> str | None:
    """Why the weight files of ``cfg`` cannot be fetched from the Hugging Face hub, or ``None``."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    repo, _, revision = cfg.hf_hub_id.partition("@")
    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    problems = []
    for name in _hf_files(cfg)[:2]:  # timm takes model.safetensors, else pytorch_model.bin
        problems.append(_probe(f"{endpoint}/{repo}/resolve/{revision or 'main'}/{name}"))
        if problems[-1] is None:
            return None
    return problems[0]


def _hf_files(cfg: Any) -> tuple[str, ...]:
    """The files timm would fetch from the hub repository of ``cfg``, best first."""
    return (cfg.hf_hub_filename,) if getattr(cfg, "hf_hub_filename", None) else _HF_WEIGHT_FILES


def _probe(url: str) -> str | None:
    """Why a HEAD request for ``url`` fails within :data:`CONNECT_TIMEOUT_S`, or ``None`` when it succeeds.

    One request, no retries: the caller decides in seconds whether a download can work.
    """
    from urllib.error import HTTPError, URLError
    from urllib.request import Request, urlopen

    host = urlparse(url).netloc
    try:
        with urlopen(Request(url, method="HEAD"), timeout=CONNECT_TIMEOUT_S):
            return None
    except HTTPError as exc:
        return f"{host} answered HTTP {exc.code} for {urlparse(url).path}"
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return f"{host} gave no answer within {CONNECT_TIMEOUT_S:g} s"
        return f"{host} cannot be reached: {getattr(reason, 'strerror', None) or reason}"
