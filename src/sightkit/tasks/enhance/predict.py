"""Upscale one image with a super-resolution bundle: colour, alpha, size checks and tiling.

A luma (``color: y``) model sees the full-range Y channel; Cb/Cr and alpha are upscaled
with Pillow's bicubic, the classic ESPCN/FSRCNN recipe (the eye is far less sensitive to
chroma detail). Grayscale input stays grayscale, transparency is kept, and images larger
than one tile run tile by tile (:mod:`.tiling`), so memory is bounded by the output itself.

Example:
    >>> predictor = Predictor.from_bundle(resolve_model("default-x2"))  # doctest: +SKIP
    >>> predictor.upscale_image("logo.png").mode  # doctest: +SKIP
    'RGBA'
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from sightkit.core.bundle import load_bundle
from sightkit.core.images import DEFAULT_MAX_PIXELS, ImageSource, load_image
from sightkit.errors import EnhanceError
from sightkit.tasks.enhance.color import rgb_to_ycbcr, ycbcr_to_rgb
from sightkit.tasks.enhance.model import create_generator, receptive_field
from sightkit.tasks.enhance.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, tiled_upscale

TASK = "enhance"
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# Bytes per output pixel besides the model's own float output: two float chroma planes,
# 8-bit output with alpha, and one float RGB band at a time.
_BYTES_PER_OUTPUT_PX = 4 * 2 + 4
_BAND_ROWS = 256


class Predictor:
    """A generator with its scale, colour convention and tiling settings, ready to upscale."""

    def __init__(self, model: nn.Module, meta: dict[str, Any], device: str = "cpu",
                 max_memory: int | None = None) -> None:
        self.meta, self.device = meta, torch.device(device)
        # NHWC is oneDNN's fast layout for these small convolutions (~20% faster on a CPU).
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.scale: int = int(meta["architecture"]["scale"])
        self.channels: int = int(meta["architecture"]["channels"])
        self.min_side: int = receptive_field(model)
        self.max_memory = max_memory

    @classmethod
    def from_bundle(cls, path: str | Path, device: str = "cpu") -> Predictor:
        """Load an ``enhance`` bundle (never unpickles)."""
        state, meta = load_bundle(path, task=TASK)
        arch = dict(meta["architecture"])
        model = create_generator(arch.pop("name"), arch.pop("scale"), arch.pop("channels"), **arch)
        model.load_state_dict(state)
        return cls(model, meta, device)

    def check_size(self, width: int, height: int, name: str = "<image>") -> None:
        """Refuse an image smaller than the receptive field, or one whose output would not fit in memory."""
        if min(width, height) < self.min_side:
            raise EnhanceError(f"{name}: {width}x{height} px is smaller than this model's receptive field; "
                               f"it needs at least {self.min_side} px on each side")
        out_w, out_h = width * self.scale, height * self.scale
        needed = out_w * out_h * (4 * self.channels + _BYTES_PER_OUTPUT_PX)
        available = self.max_memory if self.max_memory is not None else _available_memory()
        if available is not None and needed > available:
            raise EnhanceError(f"{name}: x{self.scale} of {width}x{height} px gives {out_w}x{out_h} px and needs "
                               f"about {needed / 2**30:.1f} GiB of memory, but {available / 2**30:.1f} GiB is "
                               "available; upscale a smaller image or crop it into parts")

    @torch.inference_mode()
    def upscale_image(self, source: ImageSource, tile: int | None = None,
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
        """Upscale one image; returns mode ``L``, ``LA``, ``RGB`` or ``RGBA`` like its source."""
        if hasattr(source, "read"):
            source = source.read()  # type: ignore[union-attr]
        gray, alpha = describe(source)
        image = load_image(source, "RGBA", max_pixels=max_pixels)
        self.check_size(image.width, image.height, _name(source))
        pixels = np.asarray(image)
        rgb = pixels[..., :3].astype(np.float32) / 255.0
        if gray:
            out = self._run(rgb[..., :1], tile)[..., 0]
            result = Image.fromarray(_to_uint8(out), "L")
        elif self.channels == 3:
            result = Image.fromarray(_to_uint8(self._run(rgb, tile)), "RGB")
        else:
            ycc = rgb_to_ycbcr(rgb)
            luma = self._run(ycc[..., :1], tile)[..., 0]
            result = Image.fromarray(_compose_rgb(luma, ycc[..., 1], ycc[..., 2], self.scale), "RGB")
        if alpha:
            alpha_up = image.getchannel("A").resize(result.size, Image.Resampling.BICUBIC)
            result = Image.merge(result.mode + "A", (*result.split(), alpha_up))
        return result

    def _run(self, planes: np.ndarray, tile: int | None) -> np.ndarray:
        """HxWxC float (0-1) -> sHxsWxC float, through the model (replicated to its channel count)."""
        x = torch.from_numpy(np.ascontiguousarray(planes.transpose(2, 0, 1)))[None].to(self.device)
        if x.shape[1] != self.channels:
            x = x.expand(1, self.channels, *x.shape[2:])
        y = tiled_upscale(self.model, x, self.scale, tile or DEFAULT_TILE, DEFAULT_OVERLAP,
                          context=int(self.model.receptive_radius))
        y = y[:, : planes.shape[2]] if planes.shape[2] < self.channels else y
        return y[0].clamp_(0, 1).permute(1, 2, 0).cpu().numpy()


def describe(source: ImageSource) -> tuple[bool, bool]:
    """``(grayscale, has_alpha)`` of a source from its header / mode, before decoding."""
    if isinstance(source, np.ndarray):
        channels = 1 if source.ndim == 2 else source.shape[2]
        return channels in (1, 2), channels in (2, 4)
    if isinstance(source, (str, Path, bytes, bytearray, memoryview)):
        try:
            opened = Image.open(io.BytesIO(bytes(source)) if not isinstance(source, (str, Path)) else source)
        except Exception:  # let load_image raise its clear ImageError
            return False, False
        with opened as img:
            return _mode_flags(img)
    return _mode_flags(source)  # type: ignore[arg-type]


def _mode_flags(img: Image.Image) -> tuple[bool, bool]:
    alpha = img.mode in _ALPHA_MODES or "transparency" in img.info
    return img.mode in _GRAY_MODES, alpha


def _compose_rgb(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray, scale: int) -> np.ndarray:
    """Model luma + bicubic chroma -> uint8 RGB, converted in row bands to bound memory."""
    size = (luma.shape[1], luma.shape[0])
    cb_up, cr_up = (np.asarray(Image.fromarray(c, "F").resize(size, Image.Resampling.BICUBIC)) for c in (cb, cr))
    out = np.empty((*luma.shape, 3), dtype=np.uint8)
    for top in range(0, luma.shape[0], _BAND_ROWS):
        rows = slice(top, top + _BAND_ROWS)
        band = np.stack([luma[rows], cb_up[rows], cr_up[rows]], axis=-1)
        out[rows] = _to_uint8(ycbcr_to_rgb(band))
    return out


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def _name(source: ImageSource) -> str:
    return str(source) if isinstance(source, (str, Path)) else "<image>"


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
