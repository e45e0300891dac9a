"""Fill the masked pixels of one image of any size with an inpainting bundle.

Each hole (a connected part of the mask) is filled in a window around it: the hole's box
grown by half its size (at least :data:`MIN_MARGIN` px) for context, windows that overlap
merged. A window larger than the scale the model was trained at (``2 x`` its training crop)
is shrunk for the network and its fill enlarged back (bicubic), so big holes are filled from
the same kind of context the model learnt from. Only mask pixels are written: every other
pixel of the result is exactly the input's. Grayscale stays grayscale, alpha is kept.

Example:
    >>> predictor = InpaintPredictor.from_bundle(resolve_inpaint_model("general"))  # doctest: +SKIP
    >>> predictor.inpaint(Image.open("photo.jpg"), Image.open("mask.png")).size  # doctest: +SKIP
    (640, 480)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn

from sightkit.core.bundle import load_bundle
from sightkit.errors import EnhanceError
from sightkit.tasks.enhance.inpaint.model import MULTIPLE, create_inpainter, telea_fill_array

TASK = "inpaint"
MIN_MARGIN = 16
_ASPECT_TOLERANCE = 0.02
_ONE_WINDOW_SHARE = 0.6  # a mask this close to the image's aspect ratio is resized to it


class InpaintPredictor:
    """A gated inpainting generator ready to fill holes of any image."""

    def __init__(self, model: nn.Module, meta: dict[str, Any], device: str = "cpu") -> None:
        self.meta, self.device = meta, torch.device(device)
        self.model = model.to(self.device).eval()
        self.work_side = 2 * int(meta.get("preprocessing", {}).get("train_patch", 64))

    @classmethod
    def from_bundle(cls, path: str | Path, device: str = "cpu") -> InpaintPredictor:
        """Load an ``inpaint`` bundle (never unpickles)."""
        state, meta = load_bundle(path, task=TASK)
        arch = meta["architecture"]
        model = create_inpainter(channels=int(arch["channels"]), width=int(arch["width"]))
        model.load_state_dict(state)
        return cls(model, meta, device)

    def inpaint(self, image: Image.Image, mask: Image.Image | np.ndarray,
                note: Callable[[str], None] | None = None) -> Image.Image:
        """``image`` with its ``mask`` pixels (white / >= 50%) filled; other pixels unchanged.

        Raises :class:`EnhanceError` for a mask of another shape or one that hides every pixel.
        """
        hole = binary_mask(mask, image.size, note)
        if not hole.any():
            return image.copy()
        if hole.all():
            raise EnhanceError("the mask covers the whole image: there is nothing left to fill it from")
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        gray = image.mode in ("L", "LA", "I", "I;16", "F", "1")
        rgb = np.array(image.convert("RGB"))
        filled = self.fill_array(rgb, hole)
        result = Image.fromarray(filled)
        if gray:
            result = result.convert("L")
        if alpha is not None:
            result.putalpha(alpha)
            if gray:
                result = result.convert("LA")
        return result

    @torch.inference_mode()
    def fill_array(self, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """``H x W x 3`` uint8 with the ``hole`` (bool ``H x W``) pixels replaced by the model's fill."""
        out = rgb.copy()
        for top, bottom, left, right in hole_windows(hole):
            window, window_hole = rgb[top:bottom, left:right], hole[top:bottom, left:right]
            fill = self._fill_window(window, window_hole)
            out[top:bottom, left:right][window_hole] = fill[window_hole]
        return out

    def _fill_window(self, window: np.ndarray, hole: np.ndarray) -> np.ndarray:
        height, width = hole.shape
        factor = min(1.0, self.work_side / max(height, width))
        small_h, small_w = max(MULTIPLE, round(height * factor)), max(MULTIPLE, round(width * factor))
        if factor < 1.0:
            pixels = cv2.resize(window, (small_w, small_h), interpolation=cv2.INTER_AREA)
            # A pixel partly in the hole at full size is unknown at the small size too.
            small_hole = cv2.resize(hole.astype(np.float32), (small_w, small_h), interpolation=cv2.INTER_AREA) > 0
        else:
            pixels, small_hole = window, hole
        pad_h, pad_w = -small_h % MULTIPLE, -small_w % MULTIPLE

        def tensor(array: np.ndarray) -> torch.Tensor:
            values = torch.from_numpy(array.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
            return torch.nn.functional.pad(values, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else values

        image, coarse = tensor(pixels), tensor(telea_fill_array(pixels, small_hole))
        mask = torch.nn.functional.pad(torch.from_numpy(small_hole.astype(np.float32))[None, None], (0, pad_w, 0, pad_h))
        fill = self.model(image.to(self.device), mask.to(self.device), coarse.to(self.device))[0, :, :small_h, :small_w]
        fill = fill.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255
        if factor < 1.0:
            # The model's correction is learnt at the small size; add it, enlarged, to Telea's
            # full-size fill, so the shrink costs the correction's detail, not the coarse fill's.
            correction = fill - coarse[0, :, :small_h, :small_w].permute(1, 2, 0).numpy() * 255
            correction = cv2.resize(correction, (width, height), interpolation=cv2.INTER_CUBIC)
            fill = telea_fill_array(window, hole).astype(np.float32) + correction
        return fill.clip(0, 255).round().astype(np.uint8)


def binary_mask(mask: Image.Image | np.ndarray, size: tuple[int, int],
                note: Callable[[str], None] | None = None) -> np.ndarray:
    """A bool ``H x W`` hole mask for an image of ``size`` (w, h): pixels at >= 50% of white are holes.

    A mask with partial transparency is read by its alpha (painted = fill); an opaque or
    fully transparent one by its colour.

    A mask with the image's aspect ratio but another size is resized (nearest) with a note;
    any other shape is refused.

    Example:
        >>> binary_mask(np.array([[0, 200], [90, 255]], np.uint8), (2, 2)).tolist()
        [[False, True], [False, True]]
    """
    if isinstance(mask, np.ndarray):
        values = mask.astype(np.float32)
        if values.ndim == 3:
            values = values.max(axis=2)
        scale = 255.0 if values.max(initial=0) > 1.0 else 1.0
        picture = Image.fromarray(np.clip(values / scale * 255, 0, 255).astype(np.uint8))
    else:
        picture = mask.convert("L")
        if mask.mode in ("RGBA", "LA"):  # strokes on a transparent layer: the alpha says where to fill
            alpha = mask.getchannel("A")
            if alpha.getextrema() not in ((255, 255), (0, 0)):
                picture = alpha
    width, height = size
    if picture.size != size:
        mask_w, mask_h = picture.size
        if abs(mask_w / mask_h - width / height) > _ASPECT_TOLERANCE * width / height:
            raise EnhanceError(f"the mask is {mask_w}x{mask_h} px but the image is {width}x{height}; "
                               "give a mask of the image's size (white = fill, black = keep)")
        if note is not None:
            note(f"the mask ({mask_w}x{mask_h}) was resized to the image's {width}x{height}")
        picture = picture.resize(size, Image.Resampling.NEAREST)
    return np.asarray(picture) >= 128


def hole_windows(hole: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``(top, bottom, left, right)`` windows around the holes, grown for context, overlaps merged.

    Windows that together cover most of the image become one window: the whole image.

    Example:
        >>> hole = np.zeros((100, 100), bool); hole[40:50, 40:50] = True
        >>> hole_windows(hole)
        [(24, 66, 24, 66)]
    """
    count, _, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    height, width = hole.shape
    boxes = []
    for x, y, w, h, _ in stats[1:count]:
        margin = max(MIN_MARGIN, max(w, h) // 2)
        boxes.append([max(0, y - margin), min(height, y + h + margin), max(0, x - margin), min(width, x + w + margin)])
    merged = True
    while merged:  # merge overlapping windows until none overlap
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]:
                    boxes[i] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    if sum((b[1] - b[0]) * (b[3] - b[2]) for b in boxes) > _ONE_WINDOW_SHARE * height * width:
        return [(0, height, 0, width)]  # windows covering most of the image: one pass over all of it is cheaper
    return sorted(tuple(int(v) for v in box) for box in boxes)
