"""Repairs applied before alignment: upscaling tiny faces and filling solid occluders.

* :func:`upscale` enlarges a small image (bicubic, optionally unsharp-masked) so that the
  detectors and the landmark predictor see a face near the size they were trained on.
  It is the stand-in for the learned (GAN) upscaler of ``sightkit enhance``.
* :func:`find_occluder` finds a large solid dark region (a black box, a dark mask or scarf),
  and :func:`fill_occluder` fills it: first with the mirror image of the visible half
  of the face (faces are nearly symmetric about their vertical axis), then the part whose
  mirror is hidden too by smooth (harmonic, i.e. Laplace-equation) inpainting, or with
  ``learned=True`` by the shipped face inpainting model (``sightkit enhance``'s ``face``).

Example:
    >>> import numpy as np
    >>> upscale(np.zeros((16, 13, 3), np.uint8), 7.0).shape
    (112, 91, 3)
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageFilter

from sightkit.core.inpaint import harmonic_fill

# A pixel whose brightest channel is at most this is "black" (JPEG leaves black at 0-6).
_OCCLUDER_LEVEL = 8
# A black region smaller than this share of the image is shadow, hair or pupils, not an occluder.
MIN_OCCLUDER_FRACTION = 0.04


def upscale(rgb: np.ndarray, factor: float, sharpen: float = 0.0) -> np.ndarray:
    """``rgb`` enlarged by ``factor`` with bicubic interpolation; ``sharpen`` > 0 adds an unsharp mask.

    ``sharpen`` is the unsharp-mask strength (1.0 = 100%, radius 1 px of the output).
    """
    image = Image.fromarray(np.ascontiguousarray(rgb))
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    image = image.resize(size, Image.Resampling.BICUBIC)
    if sharpen > 0:
        image = image.filter(ImageFilter.UnsharpMask(radius=1.0, percent=round(sharpen * 100), threshold=0))
    return np.asarray(image)


def find_occluder(rgb: np.ndarray) -> np.ndarray | None:
    """Boolean mask of the largest solid black region, or ``None`` when there is no large one.

    Example:
        >>> img = np.full((40, 40, 3), 120, np.uint8); img[:10] = 0
        >>> int(find_occluder(img).sum())
        400
    """
    from scipy import ndimage

    dark = rgb.max(axis=-1) <= _OCCLUDER_LEVEL
    labels, count = ndimage.label(dark)
    if count == 0:
        return None
    sizes = ndimage.sum_labels(dark, labels, index=np.arange(1, count + 1))
    largest = int(np.argmax(sizes))
    if sizes[largest] < MIN_OCCLUDER_FRACTION * dark.size:
        return None
    return labels == largest + 1


def fill_occluder(rgb: np.ndarray, mask: np.ndarray, axis_x: float, learned: bool = False) -> np.ndarray:
    """``rgb`` with ``mask`` filled: mirrored about the column ``axis_x`` where visible, else inpainted.

    The inpainting is harmonic, or with ``learned`` the shipped ``face`` inpainting model's.

    Example:
        >>> img = np.full((8, 8, 3), 90, np.uint8); hidden = np.zeros((8, 8), bool); hidden[:, :3] = True
        >>> img[hidden] = 0
        >>> int(fill_occluder(img, hidden, axis_x=3.5)[0, 0, 0])
        90
    """
    out = rgb.copy()
    height, width = mask.shape
    mirror_cols = np.rint(2 * axis_x - np.arange(width)).astype(int)
    inside = (mirror_cols >= 0) & (mirror_cols < width)
    mirrored_mask = np.ones_like(mask)
    mirrored_mask[:, inside] = mask[:, mirror_cols[inside]]
    from_mirror = mask & ~mirrored_mask
    rows, cols = np.nonzero(from_mirror)
    out[rows, cols] = rgb[rows, mirror_cols[cols]]
    rest = mask & mirrored_mask
    if rest.any():
        out = _face_inpainter().fill_array(out, rest) if learned else _harmonic_fill(out, rest)
    return out


@functools.lru_cache(maxsize=1)
def _face_inpainter():
    from sightkit.tasks.enhance.inpaint.predict import InpaintPredictor
    from sightkit.tasks.enhance.inpaint.shipped import resolve_inpaint_model

    return InpaintPredictor.from_bundle(resolve_inpaint_model("face"))


def _harmonic_fill(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Solve Laplace's equation inside ``mask`` with the visible pixels as boundary values (uint8 in and out)."""
    values = rgb.astype(np.float64).reshape(*mask.shape, -1)
    return np.clip(np.rint(harmonic_fill(values, mask)), 0, 255).astype(np.uint8).reshape(rgb.shape)
