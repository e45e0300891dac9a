"""What an audit needs to know about one image file: size, mode, format, hashes, contrast.

Every file is read through sightkit's one safe loader (:func:`~sightkit.core.images.load_image`),
so truncated or corrupt files, decompression bombs and non-images come back as an ``error``
instead of an exception.

Example:
    >>> facts = image_facts(Path("data/cat/1.jpg"))  # doctest: +SKIP
    >>> facts.ok, facts.width, facts.format, facts.pixel_std  # doctest: +SKIP
    (True, 640, 'JPEG', 61.3)
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sightkit.core.images import load_image, peek
from sightkit.errors import ImageError


@dataclass(frozen=True)
class ImageFacts:
    """The facts of one file; ``error`` is set (and the image fields are None) when it cannot be decoded.

    ``sha256`` is the hash of the file's bytes (None when the file cannot be read at all);
    ``phash`` is the 64-bit perceptual hash (DCT of the 32x32 grey image) as an int;
    ``pixel_std`` is the standard deviation of the grey pixel values (0-255).
    """

    path: Path
    sha256: str | None
    size_bytes: int
    error: str | None = None
    width: int | None = None
    height: int | None = None
    mode: str | None = None
    format: str | None = None
    phash: int | None = None
    pixel_std: float | None = None

    @property
    def ok(self) -> bool:
        """Whether the image decoded."""
        return self.error is None


def image_facts(path: Path) -> ImageFacts:
    """Read ``path`` once through the safe loader and return its :class:`ImageFacts`."""
    import imagehash

    try:
        data = path.read_bytes()
    except OSError as exc:
        return ImageFacts(path, None, 0, error=f"{path}: cannot read the file ({exc.strerror or exc})")
    digest = hashlib.sha256(data).hexdigest()
    try:
        width, height, mode = peek(path)
        grey = load_image(path, "L")
    except ImageError as exc:
        return ImageFacts(path, digest, len(data), error=str(exc))
    pixels = np.asarray(grey, dtype=np.float32)
    return ImageFacts(path, digest, len(data), width=width, height=height, mode=mode, format=_format(path),
                      phash=int(str(imagehash.phash(grey)), 16), pixel_std=round(float(pixels.std()), 3))


def _format(path: Path) -> str:
    """The container format Pillow names (PNG, JPEG, ...), from the header only; the suffix if that fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                return str(img.format or path.suffix.lstrip(".").upper())
    except Exception:  # the loader has already read this file; a header quirk only loses the format name
        return path.suffix.lstrip(".").upper()
