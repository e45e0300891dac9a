"""Heatmap overlays: a map in colour over its image, with a caption strip underneath.

Example:
    >>> img = overlay(Image.new("L", (8, 8)), np.eye(8), "7  p=0.93")
    >>> img.size, img.mode
    ((224, 250), 'RGB')
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

# Side of the drawn overlay: models see 8-64 px images, far too small to read on screen.
DISPLAY_SIDE = 224
# Weight of the heatmap in the blend; the image shows through the rest.
ALPHA = 0.5
COLORMAP = "jet"
_CAPTION_HEIGHT = 26
_FONT_SIZE = 15


def overlay(image: Image.Image, heatmap: np.ndarray, caption: str = "", *, alpha: float = ALPHA,
            side: int = DISPLAY_SIDE, colormap: str = COLORMAP) -> Image.Image:
    """``heatmap`` (H x W in [0, 1]) coloured and blended over ``image``, scaled to ``side`` px.

    Small images are enlarged with nearest-neighbour sampling so their pixels stay visible;
    the map is enlarged bilinearly. With a ``caption`` (e.g. the label and probability) a
    white strip with the text is added below. Returns an RGB image.

    Example:
        >>> overlay(Image.new("RGB", (32, 32)), np.zeros((32, 32)), "cat 0.81").size
        (224, 250)
    """
    width = side
    height = max(1, round(side * image.height / image.width))
    factor = side / max(image.size)
    resample = Image.Resampling.NEAREST if factor >= 4 else Image.Resampling.BILINEAR
    base = np.asarray(image.convert("RGB").resize((width, height), resample), dtype=np.float32) / 255.0
    heat = Image.fromarray(np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0), mode="F")
    heat = np.asarray(heat.resize((width, height), Image.Resampling.BILINEAR))
    coloured = colormaps[colormap](np.clip(heat, 0.0, 1.0))[..., :3]
    blended = Image.fromarray(np.rint(((1 - alpha) * base + alpha * coloured) * 255).astype(np.uint8))
    if not caption:
        return blended
    canvas = Image.new("RGB", (width, height + _CAPTION_HEIGHT), "white")
    canvas.paste(blended, (0, 0))
    font = ImageFont.load_default(size=_FONT_SIZE)
    ImageDraw.Draw(canvas).text((4, height + 4), _fit(caption, font, width - 8), fill="black", font=font)
    return canvas


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    """``text``, shortened with an ellipsis until it is at most ``width`` px wide."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "\u2026") > width:
        text = text[:-1]
    return text + "\u2026"
