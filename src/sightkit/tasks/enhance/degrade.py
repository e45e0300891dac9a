"""How low-resolution inputs are made from high-resolution images, for training and evaluation.

* **bicubic** (the convention of published tables): crop the HR image to a multiple of the
  scale, then downscale with Pillow's antialiased bicubic. On Set5 this gives bicubic-upscale
  Y-PSNRs of 33.67 / 30.40 / 28.43 dB at x2 / x3 / x4 (published: 33.66 / 30.39 / 28.42).
* **real** ("real-world", after Real-ESRGAN's first-order model): random Gaussian blur,
  bicubic downscale, Gaussian noise and JPEG compression, each with a random strength.

Example:
    >>> from PIL import Image
    >>> hr = Image.new("RGB", (33, 20))
    >>> bicubic_downscale(mod_crop(hr, 4), 4).size
    (8, 5)
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

DEGRADATIONS = ("bicubic", "real")
# Ranges of the "real" degradation: blur sigma (HR px), noise sigma (0-255), JPEG quality.
BLUR_SIGMA = (0.2, 2.0)
NOISE_SIGMA = (0.0, 10.0)
JPEG_QUALITY = (40, 95)


def mod_crop(image: Image.Image, scale: int) -> Image.Image:
    """Crop the right and bottom edges so both sides are multiples of ``scale``."""
    width, height = image.size
    return image.crop((0, 0, width - width % scale, height - height % scale))


def bicubic_downscale(image: Image.Image, scale: int) -> Image.Image:
    """Pillow's antialiased bicubic downscale by ``scale`` (sides are floored)."""
    return image.resize((image.width // scale, image.height // scale), Image.Resampling.BICUBIC)


def bicubic_upscale(image: Image.Image, scale: int) -> Image.Image:
    """Pillow's bicubic upscale by ``scale``: the baseline every model is compared with."""
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.BICUBIC)


def real_degrade(image: Image.Image, scale: int, rng: np.random.Generator) -> Image.Image:
    """Blur, bicubic downscale, Gaussian noise and JPEG at random strengths (8-bit in and out).

    Example:
        >>> lr = real_degrade(Image.new("L", (32, 32), 128), 2, np.random.default_rng(0))
        >>> lr.size, lr.mode
        ((16, 16), 'L')
    """
    sigma = float(rng.uniform(*BLUR_SIGMA))
    blurred = image.filter(ImageFilter.GaussianBlur(sigma))
    small = bicubic_downscale(blurred, scale)
    pixels = np.asarray(small, dtype=np.float32)
    pixels = pixels + rng.normal(0.0, rng.uniform(*NOISE_SIGMA), pixels.shape)
    noisy = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), mode=small.mode)
    buffer = io.BytesIO()
    noisy.save(buffer, format="JPEG", quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
    buffer.seek(0)
    return Image.open(buffer).convert(small.mode)
