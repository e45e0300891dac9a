"""Colour conventions of super-resolution: the luma channel models see and metrics measure.

Two Y channels are used, both ITU-R BT.601:

* **Model input** is *full-range* Y (JPEG/JFIF): ``Y = 0.299 R + 0.587 G + 0.114 B`` on
  0-1 values, so a grayscale image is its own Y and white stays 1.0. Cb/Cr are the JFIF
  chroma channels, upscaled bicubically beside the model.
* **Metrics** use *studio-range* Y (16-235) as MATLAB's ``rgb2ycbcr`` does, because that is
  how published Set5/Set14 tables were computed (see :mod:`sightkit.tasks.enhance.metrics`).

Studio Y is an affine function of full-range Y (``16 + 219/255 * Y``), so a model that
minimises error on one minimises it on the other.

Example:
    >>> import numpy as np
    >>> float(studio_y(np.array([[[255, 255, 255]]], dtype=np.uint8))[0, 0])
    235.0
"""

from __future__ import annotations

import numpy as np

# ITU-R BT.601 luma weights (JFIF full range).
LUMA = (0.299, 0.587, 0.114)
# MATLAB rgb2ycbcr, studio range, for 0-255 RGB: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255.
STUDIO_Y = (65.481, 128.553, 24.966)
STUDIO_Y_OFFSET = 16.0


def studio_y(rgb: np.ndarray) -> np.ndarray:
    """Studio-range Y (16-235, float64) of an HxWx3 uint8 RGB array, or an HxW grey one.

    A grey array is treated as R = G = B, which gives ``16 + 219/255 * grey``.

    Example:
        >>> float(studio_y(np.zeros((1, 1, 3), np.uint8))[0, 0])
        16.0
    """
    values = rgb.astype(np.float64)
    if values.ndim == 2:
        values = values[..., None].repeat(3, axis=2)
    r, g, b = values[..., 0], values[..., 1], values[..., 2]
    return (STUDIO_Y[0] * r + STUDIO_Y[1] * g + STUDIO_Y[2] * b) / 255.0 + STUDIO_Y_OFFSET


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Full-range (JFIF) YCbCr of a float HxWx3 RGB array in 0-1; chroma is centred on 0.5.

    Example:
        >>> rgb_to_ycbcr(np.ones((1, 1, 3), np.float32)).round(6).tolist()
        [[[1.0, 0.5, 0.5]]]
    """
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
    cb = 0.5 + (b - y) / (2.0 * (1.0 - LUMA[2]))
    cr = 0.5 + (r - y) / (2.0 * (1.0 - LUMA[0]))
    return np.stack([y, cb, cr], axis=-1).astype(rgb.dtype, copy=False)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (values are not clipped).

    Example:
        >>> x = np.random.default_rng(0).random((2, 2, 3))
        >>> bool(np.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x))
        True
    """
    y, cb, cr = ycc[..., 0], ycc[..., 1] - 0.5, ycc[..., 2] - 0.5
    r = y + 2.0 * (1.0 - LUMA[0]) * cr
    b = y + 2.0 * (1.0 - LUMA[2]) * cb
    g = (y - LUMA[0] * r - LUMA[2] * b) / LUMA[1]
    return np.stack([r, g, b], axis=-1).astype(ycc.dtype, copy=False)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Full-range Y (0-1, float32) of an HxWx3 uint8 RGB array or an HxW grey one.

    Example:
        >>> float(luma(np.full((1, 1), 255, np.uint8))[0, 0])
        1.0
    """
    values = rgb.astype(np.float32) / 255.0
    if values.ndim == 2:
        return values
    return LUMA[0] * values[..., 0] + LUMA[1] * values[..., 1] + LUMA[2] * values[..., 2]
