"""The robustness protocol of ``sightkit face evaluate --degrade``: seeded probe degradations.

Each condition turns a clean probe image into a harder one, reproducibly (the random parts
draw from ``numpy.random.default_rng((seed, probe_index))``):

* ``lowres32`` / ``lowres24`` / ``lowres16``: downscaled (bicubic, antialiased) to that
  height in px, aspect kept, and handed over at that size; for a whole photo (``face_height``
  given: the height of the face's box in it), the photo is downscaled so that the *face* is
  that many px tall, background and all, as a camera further away would see it;
* ``occlusion20`` / ``occlusion35``: a black rectangle covering 20% / 35% of the image area,
  aspect ratio log-uniform in [1/2, 2], at a uniformly random position;
* ``mask``: the bottom 40% of the image black (a lower-face mask);
* ``blur``: Gaussian blur, sigma 2 px; ``noise``: Gaussian noise, sigma 15/255;
  ``jpeg15``: JPEG at quality 15.

Example:
    >>> from PIL import Image
    >>> degrade(Image.new("L", (92, 112), 128), "lowres24").size
    (20, 24)
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from sightkit.errors import ConfigError

CONDITIONS = ("clean", "lowres32", "lowres24", "lowres16", "occlusion20", "occlusion35", "mask", "blur",
              "noise", "jpeg15")
_LOWRES = {"lowres32": 32, "lowres24": 24, "lowres16": 16}
_OCCLUSION = {"occlusion20": 0.20, "occlusion35": 0.35}
MASK_FRACTION = 0.40
BLUR_SIGMA = 2.0
NOISE_SIGMA = 15.0  # in 0-255 units, i.e. 15/255
JPEG_QUALITY = 15


def degrade(image: Image.Image, condition: str, seed: int = 0, index: int = 0,
            face_height: float | None = None) -> Image.Image:
    """``image`` degraded by ``condition`` (one of :data:`CONDITIONS`), seeded by ``(seed, index)``.

    ``face_height`` (px, the face box's height in ``image``) makes the low-resolution
    conditions shrink a whole photo until its face is 32 / 24 / 16 px tall, instead of the
    image itself.

    Example:
        >>> img = Image.new("RGB", (92, 112), "white")
        >>> int(np.asarray(degrade(img, "mask"))[-1].max())
        0
        >>> degrade(Image.new("RGB", (320, 240)), "lowres24", face_height=80).size
        (96, 72)
    """
    if condition not in CONDITIONS:
        raise ConfigError(f"unknown degradation {condition!r}; choose from {', '.join(CONDITIONS)}")
    rng = np.random.default_rng((seed, index))
    if condition == "clean":
        return image.copy()
    if condition in _LOWRES:
        scale = _LOWRES[condition] / (face_height or image.height)
        height = max(1, round(image.height * scale))
        width = max(1, round(image.width * scale))
        return image.resize((width, height), Image.Resampling.BICUBIC)  # Pillow antialiases when shrinking
    if condition in _OCCLUSION:
        return _black_box(image, *_random_rect(image.size, _OCCLUSION[condition], rng))
    if condition == "mask":
        top = round(image.height * (1 - MASK_FRACTION))
        return _black_box(image, 0, top, image.width, image.height)
    if condition == "blur":
        from scipy.ndimage import gaussian_filter

        pixels = np.asarray(image, dtype=np.float32)
        sigma = (BLUR_SIGMA, BLUR_SIGMA, 0) if pixels.ndim == 3 else BLUR_SIGMA
        return _to_image(gaussian_filter(pixels, sigma), image.mode)
    if condition == "noise":
        pixels = np.asarray(image, dtype=np.float32)
        return _to_image(pixels + rng.normal(0.0, NOISE_SIGMA, pixels.shape), image.mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return Image.open(io.BytesIO(buffer.getvalue())).convert(image.mode)


def _random_rect(size: tuple[int, int], fraction: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a rectangle of ``fraction`` of the area, inside the image."""
    width, height = size
    area = fraction * width * height
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    rect_w = min(width, max(1, round(math.sqrt(area * aspect))))
    rect_h = min(height, max(1, round(area / rect_w)))
    rect_w = min(width, max(1, round(area / rect_h)))
    left = int(rng.integers(0, width - rect_w + 1))
    top = int(rng.integers(0, height - rect_h + 1))
    return left, top, left + rect_w, top + rect_h


def _black_box(image: Image.Image, left: int, top: int, right: int, bottom: int) -> Image.Image:
    pixels = np.array(image)
    pixels[top:bottom, left:right] = 0
    return Image.fromarray(pixels)


def _to_image(pixels: np.ndarray, mode: str) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)).convert(mode)
