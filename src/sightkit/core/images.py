"""The one image loader that every sightkit entry point uses.

It reads paths, bytes, binary file objects, PIL images and numpy arrays; reads DICOM
(``.dcm`` or the ``DICM`` preamble) through :mod:`sightkit.core.dicom`; applies EXIF
orientation; converts every Pillow mode explicitly to 8-bit ``RGB``/``L``/``RGBA``;
refuses decompression bombs before decoding; and raises :class:`ImageError` naming the
file on anything it cannot read.

Example:
    >>> from sightkit.core.images import load_image, peek   # doctest: +SKIP
    >>> peek("cat.jpg")                                      # doctest: +SKIP
    (640, 480, 'RGB')
    >>> load_image("cat.jpg", mode="L").size                 # doctest: +SKIP
    (640, 480)
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from sightkit.errors import ImageError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".pgm", ".ppm", ".pbm", ".pnm",
     ".tif", ".tiff", ".webp", ".dcm"}
)

# 64 Mpx (e.g. 8192 x 8192) is far above any photo a model needs, and at 4 bytes a pixel
# it is 256 MiB decoded. A few-KiB PNG can claim billions of pixels; refusing by the
# header size keeps one upload from exhausting the memory of a training job or server.
DEFAULT_MAX_PIXELS: int = 64 * 1024 * 1024
MIN_SIDE: int = 2

ImageSource = str | Path | bytes | BinaryIO | Image.Image | np.ndarray

_GRAY_MODES = frozenset({"1", "L", "LA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_TARGET_MODES = ("RGB", "L", "RGBA", None)
# What Pillow and its plugins raise on data they cannot parse or decode.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error,
                  zlib.error)


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has an image suffix (case-insensitive); the file is not opened.

    Example:
        >>> is_image_file("holiday/IMG_001.JPG")
        True
    """
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def peek(path: str | Path) -> tuple[int, int, str]:
    """Return ``(width, height, PIL mode)`` of an image file, reading only its header.

    The size is as stored, before EXIF orientation. Raises :class:`ImageError` on a
    missing file or one that is not an image; pixel data is never decoded, so a
    decompression bomb can be peeked safely. A DICOM file gives the size of one frame and
    ``"L"``, ``"I;16"`` (over 8 bits) or ``"RGB"``.

    Example:
        >>> peek("scan.png")            # doctest: +SKIP
        (2048, 1536, 'I;16')
    """
    path = _existing_file(path)
    with path.open("rb") as fp:
        if _is_dicom_file(fp, path):
            from sightkit.core.dicom import dicom_header, read_dataset

            return dicom_header(read_dataset(fp, str(path), header_only=True), str(path))
        img = _identify(fp, str(path))
        return img.width, img.height, img.mode


def is_grayscale(path: str | Path) -> bool:
    """Whether an image file stores a single grey channel (modes 1, L, LA, I, I;16*, F).

    Header only, like :func:`peek`. A palette image counts as colour even if its
    palette happens to be grey.

    Example:
        >>> is_grayscale("xray.pgm")    # doctest: +SKIP
        True
    """
    return peek(path)[2] in _GRAY_MODES


def load_image(
    source: ImageSource,
    mode: str | None = "RGB",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = MIN_SIDE,
    window: str | None = None,
    frame: int | None = None,
) -> Image.Image:
    """Load one image, fully decoded and detached from its file, as 8-bit ``mode``.

    ``source`` is a path, bytes, a binary file object (read from its current
    position), a PIL image or a numpy array (HxW, HxWx1, HxWx3, HxWx4; uint8, uint16,
    or float in 0-1). ``mode`` is ``"RGB"``, ``"L"``, ``"RGBA"`` or ``None`` (``"L"``
    for grayscale sources, ``"RGB"`` otherwise). Multi-frame sources give their first
    frame (a PIL source is seeked to it). 16-bit data is scaled by its bit depth
    (65535 -> 255), float images as 0-1.
    Transparency is composited over white unless ``mode="RGBA"``: transparent
    margins of logos and scans are usually white paper, and white keeps them from
    turning into black blobs a model would learn from.

    DICOM sources (a ``.dcm`` path, or the ``DICM`` preamble) go through
    :mod:`sightkit.core.dicom`: modality LUT (Hounsfield units), ``window`` (``lung``,
    ``soft``, ``bone``, ``brain``, ``"C,W"``, ``minmax``; default ``SIGHTKIT_DICOM_WINDOW``,
    else the file's VOI LUT / window, else min-max), MONOCHROME1 inversion, and the middle
    frame of a multi-frame file unless ``frame`` picks one; 8-bit only at the end.
    ``window`` and ``frame`` are ignored for other formats.

    Raises :class:`ImageError` naming the file when it is missing, not an image,
    corrupt, over ``max_pixels`` (checked from the header, before decoding) or has a
    side under ``min_side``.

    Example:
        >>> img = load_image("photo.jpg")            # doctest: +SKIP
        >>> img.mode, img.size                       # doctest: +SKIP
        ('RGB', (640, 480))
    """
    if mode not in _TARGET_MODES:
        raise ValueError(f"mode must be one of {_TARGET_MODES}, not {mode!r}")
    limits = (mode, max_pixels, min_side)
    if isinstance(source, np.ndarray):
        return _decode(_from_array(source), "<array>", *limits)
    if isinstance(source, Image.Image):
        if getattr(source, "n_frames", 1) > 1:
            source.seek(0)
        return _decode(source, "<image>", *limits)
    dicom = (window, frame)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open_and_decode(io.BytesIO(source), None, "<bytes>", limits, dicom)
    if isinstance(source, (str, Path)):
        path = _existing_file(source)
        with path.open("rb") as fp:
            return _open_and_decode(fp, path, str(path), limits, dicom)
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        name = name if isinstance(name, str) else "<file>"
        return _open_and_decode(io.BytesIO(source.read()), Path(name), name, limits, dicom)
    raise TypeError(f"cannot load an image from {type(source).__name__}")


def _open_and_decode(fp: BinaryIO, path: Path | None, name: str, limits: tuple[str | None, int, int],
                     dicom: tuple[str | None, int | None]) -> Image.Image:
    if _is_dicom_file(fp, path):
        return _decode_dicom(fp, name, *limits, *dicom)
    return _decode(_identify(fp, name), name, *limits)


def _is_dicom_file(fp: BinaryIO, path: Path | None) -> bool:
    from sightkit.core.dicom import is_dicom

    start = fp.tell()
    head = fp.read(132)
    fp.seek(start)
    return is_dicom(path, head)


def _decode_dicom(fp: BinaryIO, name: str, mode: str | None, max_pixels: int, min_side: int,
                  window: str | None, frame: int | None) -> Image.Image:
    """Parse, check the size from the header, then window one frame to 8 bits (see sightkit.core.dicom)."""
    from sightkit.core.dicom import dicom_array, dicom_header, dicom_to_uint8, read_dataset

    dataset = read_dataset(fp, name)
    width, height, _ = dicom_header(dataset, name)
    _check_size(width, height, name, max_pixels, min_side)
    return _convert(Image.fromarray(dicom_to_uint8(dicom_array(dataset, name, window, frame))), mode)


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: file not found")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    return path


def _identify(fp: BinaryIO, name: str) -> ImageFile.ImageFile:
    """Open ``fp`` lazily (header only), with sightkit's pixel cap in place of Pillow's."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp)
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a readable image (unknown format)") from None
    except Image.DecompressionBombError:
        pass  # over 2 * Image.MAX_IMAGE_PIXELS: Pillow refuses before giving the header
    except _DECODE_ERRORS as err:
        raise ImageError(f"{name}: not a readable image ({err})") from None
    # Ask the registered plugins directly, as Image.open does, so that the size can be
    # reported (or allowed by the caller's max_pixels) without changing Pillow's global.
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        fp.seek(0)
        accepted = accept is None or accept(fp.read(16))
        if accepted and not isinstance(accepted, str):
            fp.seek(0)
            try:
                return factory(fp, "")
            except _DECODE_ERRORS:
                continue
    raise ImageError(f"{name}: not a readable image (unknown format)")


def _decode(img: Image.Image, name: str, mode: str | None, max_pixels: int,
            min_side: int) -> Image.Image:
    """Check the header size, then decode, orient and convert to ``mode``."""
    _check_size(img.width, img.height, name, max_pixels, min_side)
    try:
        img.load()
        img = ImageOps.exif_transpose(img)  # a copy: never the caller's object or file
    except (*_DECODE_ERRORS, Image.DecompressionBombError) as err:
        raise ImageError(f"{name}: corrupt or truncated image data ({err})") from None
    return _convert(img, mode)


def _check_size(width: int, height: int, name: str, max_pixels: int, min_side: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: {width}x{height} px ({width * height:,} pixels) exceeds the cap of "
            f"{max_pixels:,} pixels; refusing to decode it (possible decompression bomb). "
            "Pass a larger max_pixels if the image is trusted."
        )
    if min(width, height) < min_side:
        raise ImageError(
            f"{name}: too small ({width}x{height} px; at least {min_side}x{min_side} needed)"
        )


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"<array>: shape {array.shape} is not HxW, HxWx1, HxWx3 or HxWx4")
    if array.dtype == np.uint16:
        array = _to_uint8(array / 257.0)
    elif array.dtype.kind == "f":
        array = _to_uint8(array * 255.0)
    elif array.dtype != np.uint8:
        raise ImageError(f"<array>: dtype {array.dtype} is not uint8, uint16 or float")
    return Image.fromarray(np.ascontiguousarray(array))


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8)


def _high_bit_to_l(img: Image.Image) -> Image.Image:
    """Scale I;16*, I and F images to 8-bit L by their bit depth, never by their maximum."""
    values = np.asarray(img)
    if img.mode == "F":
        scaled = values * 255.0  # float images are 0.0-1.0
    elif img.mode.startswith("I;16") or values.max(initial=0) <= 0xFFFF:
        scaled = values / 257.0  # 16-bit (Pillow opens 16-bit PGM as "I")
    else:
        scaled = values / ((2**31 - 1) / 255.0)  # 32-bit signed integers
    return Image.fromarray(_to_uint8(scaled))


def _to_8bit(img: Image.Image) -> Image.Image:
    """Any Pillow mode as L, LA, RGB or RGBA; alpha is kept for the caller to handle."""
    if img.mode in ("L", "LA", "RGB", "RGBA"):
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return _high_bit_to_l(img)
    if img.mode == "1":
        return img.convert("L")
    if img.mode == "P":
        return img.convert("RGBA" if img.has_transparency_data else "RGB")
    if img.mode in ("PA", "RGBa"):
        return img.convert("RGBA")
    return img.convert("RGB")  # RGBX, CMYK (Pillow un-inverts Adobe JPEGs), YCbCr, HSV, LAB


def _over_white(img: Image.Image) -> Image.Image:
    base = "L" if img.mode == "LA" else "RGB"
    out = Image.new(base, img.size, "white")
    out.paste(img.convert(base), mask=img.getchannel("A"))
    return out


def _convert(img: Image.Image, mode: str | None) -> Image.Image:
    img = _to_8bit(img)
    if mode == "RGBA":
        return img.convert("RGBA")
    if img.mode in ("LA", "RGBA"):
        img = _over_white(img)
    # L -> RGB replicates the channel; RGB -> L is Pillow's ITU-R 601-2 luma.
    return img if mode in (None, img.mode) else img.convert(mode)
