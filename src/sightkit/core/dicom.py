"""DICOM files as images: modality LUT, windowing, MONOCHROME1, frames, colour (pydicom).

:func:`sightkit.core.images.load_image` sends ``.dcm`` files and files with the ``DICM``
preamble here, so every entry point (datasets, predict, explain, serve) reads DICOM. The
pixel values keep their full depth (12/16-bit integers, floats) through these steps, and
become 8-bit (or float 0-1 with :func:`dicom_array`) only at the end:

1. the modality LUT: Rescale Slope / Intercept (CT values become Hounsfield units) or a
   Modality LUT Sequence;
2. the window, first match wins: the ``window`` asked for (a preset name from
   :data:`WINDOW_PRESETS`, ``"C,W"`` numbers, or ``"minmax"``; by default the value of the
   ``SIGHTKIT_DICOM_WINDOW`` environment variable), else the file's VOI LUT
   Sequence, else its Window Center / Width (first pair; LINEAR, LINEAR_EXACT or SIGMOID as
   the file says), else the image's own minimum-maximum;
3. MONOCHROME1 (white = low values) is inverted so that bone is bright, as in MONOCHROME2.

Colour files (RGB, YBR_*, PALETTE COLOR) give RGB scaled by their bit depth; windows do not
apply to them. A multi-frame file gives its middle frame unless ``frame`` picks one
(:func:`dicom_frame_count` tells how many); datasets read one image per file, so a series
stored one frame per file needs nothing special, and a multi-frame file can be expanded with
``[load_image(path, frame=i) for i in range(dicom_frame_count(path))]``.

Patient identifiers never reach an error message: errors name the file and the problem,
and pydicom's own warnings are silenced while a file is read.

Example:
    >>> from sightkit.core.images import load_image       # doctest: +SKIP
    >>> load_image("ct/slice_042.dcm", window="lung").mode  # doctest: +SKIP
    'RGB'
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np

from sightkit.errors import ConfigError, ImageError

# The window of DICOM files when the caller names none (a preset, "C,W", auto or minmax), for
# command lines and services that load images deep inside (like SIGHTKIT_THREADS).
WINDOW_ENV_VAR = "SIGHTKIT_DICOM_WINDOW"
PREAMBLE_OFFSET = 128
MAGIC = b"DICM"
# Window presets as (centre, width) in Hounsfield units, from Radiopaedia's "Windowing (CT)"
# article (https://radiopaedia.org/articles/windowing-ct): the values most CT viewers offer.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "soft": (40.0, 400.0),       # soft tissue / mediastinum
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}
_PRESET_ALIASES = {"soft-tissue": "soft", "soft_tissue": "soft", "mediastinum": "soft"}
_AUTO, _MINMAX = "auto", "minmax"
# Transfer syntaxes whose pixel data needs an optional decoder, and the package to install.
_CODECS: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg pylibjpeg-libjpeg",   # JPEG baseline
    "1.2.840.10008.1.2.4.51": "pylibjpeg pylibjpeg-libjpeg",   # JPEG extended
    "1.2.840.10008.1.2.4.57": "pylibjpeg pylibjpeg-libjpeg",   # JPEG lossless
    "1.2.840.10008.1.2.4.70": "pylibjpeg pylibjpeg-libjpeg",   # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80": "pylibjpeg pylibjpeg-libjpeg",   # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "pylibjpeg pylibjpeg-libjpeg",   # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg pylibjpeg-openjpeg",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg pylibjpeg-openjpeg",  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pylibjpeg pylibjpeg-openjpeg",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202": "pylibjpeg pylibjpeg-openjpeg",  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203": "pylibjpeg pylibjpeg-openjpeg",  # HTJ2K
    "1.2.840.10008.1.2.5": "pylibjpeg pylibjpeg-rle",          # RLE lossless
}
T = TypeVar("T")
_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def is_dicom(path: str | Path | None, head: bytes) -> bool:
    """Whether a file is DICOM: a ``.dcm`` suffix, or ``DICM`` after the 128-byte preamble.

    ``head`` is the start of the file (at least 132 bytes to see the preamble).

    Example:
        >>> is_dicom("scan.DCM", b"")
        True
        >>> is_dicom(None, bytes(128) + b"DICM")
        True
    """
    if path is not None and Path(path).suffix.lower() == ".dcm":
        return True
    return head[PREAMBLE_OFFSET:PREAMBLE_OFFSET + 4] == MAGIC


def _quiet(function: Callable[..., T]) -> Callable[..., T]:
    """Run ``function(source, name, ...)`` with warnings ignored and any failure as one ImageError naming ``name``.

    pydicom's warnings quote element values (maybe a patient's), and it parses elements lazily,
    so a corrupt element raises whatever its parser raises on first access.
    """
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return function(*args, **kwargs)
        except ImageError:
            raise
        except Exception as err:  # noqa: BLE001 - see the docstring
            raise ImageError(f"{args[1]}: corrupt DICOM data ({type(err).__name__}: {_first_line(err)})") from None
    return wrapper


@_quiet
def read_dataset(fp: BinaryIO, name: str, header_only: bool = False) -> Any:
    """Parse a DICOM file (pixel data not decoded) with pydicom; ImageError naming ``name`` if it cannot.

    Example:
        >>> with open("ct.dcm", "rb") as fp:     # doctest: +SKIP
        ...     ds = read_dataset(fp, "ct.dcm")
    """
    import pydicom

    _quiet_pydicom_log()
    try:
        # header_only defers large values (the pixel data) instead of reading them, so that
        # "PixelData" in ds still tells whether the file holds an image
        return pydicom.dcmread(fp, defer_size="4 KB" if header_only else None, force=True)
    except Exception as err:  # pydicom raises many kinds on malformed files; the message may quote values
        raise ImageError(f"{name}: not a readable DICOM file ({type(err).__name__})") from None


@_quiet
def dicom_header(ds: Any, name: str) -> tuple[int, int, str]:
    """``(width, height, PIL-like mode)`` of one frame: ``"I;16"``/``"L"`` for grey, ``"RGB"`` for colour.

    Raises :class:`ImageError` when the file holds no image (a report, an RT plan, a DICOMDIR).

    Example:
        >>> dicom_header(ds, "ct.dcm")   # doctest: +SKIP
        (128, 128, 'I;16')
    """
    if not any(tag in ds for tag in _PIXEL_TAGS):
        raise ImageError(f"{name}: DICOM file has no pixel data (not an image: e.g. a report, RT plan or "
                         "DICOMDIR)")
    width, height = _int(ds, "Columns", 0), _int(ds, "Rows", 0)
    if width <= 0 or height <= 0:
        raise ImageError(f"{name}: DICOM image without valid Rows / Columns")
    if _int(ds, "SamplesPerPixel", 1) != 1 or _photometric(ds) == "PALETTE COLOR":
        return width, height, "RGB"
    return width, height, "L" if _int(ds, "BitsAllocated", 8) <= 8 else "I;16"


def dicom_frame_count(ds: Any) -> int:
    """Frames in the file (1 for a single image).

    Example:
        >>> dicom_frame_count(ds)   # doctest: +SKIP
        10
    """
    return max(1, _int(ds, "NumberOfFrames", 1))


@_quiet
def dicom_array(ds: Any, name: str, window: str | None = None, frame: int | None = None) -> np.ndarray:
    """One frame as float32 in 0-1: HxW after modality LUT, window and MONOCHROME1 inversion, or HxWx3 RGB.

    ``window`` is a preset of :data:`WINDOW_PRESETS` (``lung``, ``soft``, ``bone``, ``brain``),
    ``"C,W"`` (centre, width in modality units, e.g. ``"-600,1500"``), ``"minmax"``, or
    ``None``/``"auto"`` (the file's VOI LUT, else its window, else min-max). ``frame``
    defaults to the middle one.

    Example:
        >>> a = dicom_array(ds, "ct.dcm", window="soft")   # doctest: +SKIP
        >>> a.dtype, float(a.min()) >= 0.0, float(a.max()) <= 1.0   # doctest: +SKIP
        (dtype('float32'), True, True)
    """
    window_cw = parse_window(window)
    frames = dicom_frame_count(ds)
    index = frames // 2 if frame is None else frame
    if not 0 <= index < frames:
        raise ImageError(f"{name}: frame {index} asked for, the file has {frames} (0-{frames - 1})")
    pixels = _decode_frame(ds, name, index, frames)
    if _is_colour(ds, pixels):
        return _colour_to_unit(ds, pixels)
    if pixels.ndim != 2:
        raise ImageError(f"{name}: unsupported DICOM pixel layout {pixels.shape} ({_int(ds, 'SamplesPerPixel', 1)} "
                         "samples per pixel)")
    values = _modality(ds, pixels, name)
    unit = _apply_window(ds, values, window_cw, name)
    if _photometric(ds) == "MONOCHROME1":
        unit = 1.0 - unit
    return unit.astype(np.float32)


def window_setting() -> dict[str, str]:
    """``{"dicom_window": value}`` when ``SIGHTKIT_DICOM_WINDOW`` is set, else ``{}``: what a bundle records.

    A model trained on windowed DICOM must see the same window at prediction time, so training
    stores the setting in the bundle's preprocessing and the predictor passes it to the loader.

    Example:
        >>> window_setting()   # doctest: +SKIP
        {'dicom_window': 'lung'}
    """
    value = os.environ.get(WINDOW_ENV_VAR)
    if not value:
        return {}
    try:
        parse_window(value)  # a bad setting fails before training, not at the first DICOM file
    except ImageError as err:
        raise ConfigError(f"{WINDOW_ENV_VAR}={value!r}: {str(err).split(': ', 1)[1]}") from None
    return {"dicom_window": value}


def dicom_to_uint8(unit: np.ndarray) -> np.ndarray:
    """The final normalisation: 0-1 floats to 0-255 uint8 (rounded).

    Example:
        >>> dicom_to_uint8(np.array([0.0, 0.5, 1.0])).tolist()
        [0, 128, 255]
    """
    return np.clip(np.rint(np.nan_to_num(unit) * 255.0), 0, 255).astype(np.uint8)


def parse_window(window: str | None) -> tuple[float, float] | str:
    """A window setting as ``(centre, width)``, or ``"auto"`` / ``"minmax"``; ImageError on bad text.

    ``None`` means the value of ``SIGHTKIT_DICOM_WINDOW`` if set, else ``"auto"``.

    Example:
        >>> parse_window("lung"), parse_window("40,80"), parse_window(None)
        ((-600.0, 1500.0), (40.0, 80.0), 'auto')
    """
    if window is None:
        window = os.environ.get(WINDOW_ENV_VAR) or _AUTO
    key = str(window).strip().lower()
    key = _PRESET_ALIASES.get(key, key)
    if key in (_AUTO, _MINMAX):
        return key
    if key in WINDOW_PRESETS:
        return WINDOW_PRESETS[key]
    parts = key.split(",")
    try:
        centre, width = (float(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        centre, width = None, None
    if centre is None or width is None or not width > 0:
        raise ImageError(f"DICOM window {window!r}: use one of {', '.join(WINDOW_PRESETS)}, auto, minmax, "
                         "or 'CENTRE,WIDTH' with a positive width (e.g. '-600,1500')")
    return centre, width


def _int(ds: Any, keyword: str, default: int) -> int:
    """An integer element, or ``default`` when it is missing, empty, not a number or corrupt."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(ds.get(keyword, default) or default)
    except Exception:  # noqa: BLE001 - lazily parsed: a corrupt element raises its parser's error
        return default


def _photometric(ds: Any) -> str:
    return str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2").strip().upper()


def _is_colour(ds: Any, pixels: np.ndarray) -> bool:
    return _photometric(ds) == "PALETTE COLOR" or (pixels.ndim == 3 and pixels.shape[-1] in (3, 4))


def _decode_frame(ds: Any, name: str, index: int, frames: int) -> np.ndarray:
    """Decode only frame ``index`` where pydicom can (>= 3.0), else all frames then pick one."""
    try:
        if frames > 1 and hasattr(ds, "pixel_array_options"):
            ds.pixel_array_options(index=index)
            return np.asarray(ds.pixel_array)
        pixels = np.asarray(ds.pixel_array)
    except Exception as err:  # decoders raise RuntimeError, ValueError, NotImplementedError, ...
        raise ImageError(_decode_error(ds, name, err)) from None
    if frames > 1 and pixels.ndim >= 3 and pixels.shape[0] == frames:
        pixels = pixels[index]
    if _photometric(ds).startswith("YBR") and pixels.ndim == 3 and not hasattr(ds, "pixel_array_options"):
        from pydicom.pixel_data_handlers.util import convert_color_space  # pydicom 2.x leaves YBR as is

        pixels = convert_color_space(pixels, _photometric(ds), "RGB")
    return pixels


def _decode_error(ds: Any, name: str, err: Exception) -> str:
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    package = _CODECS.get(str(syntax)) if syntax is not None else None
    if package is not None and not _decoder_installed(package):
        return (f"{name}: pixel data compressed as {syntax.name}; install a decoder: pip install {package} "
                "(or pip install 'sightkit[dicom]')")
    if package is not None or (syntax is not None and getattr(syntax, "is_compressed", False)):
        return f"{name}: cannot decode the {getattr(syntax, 'name', syntax)} pixel data ({_first_line(err)})"
    return f"{name}: cannot decode the DICOM pixel data ({_first_line(err)})"


def _decoder_installed(package: str) -> bool:
    import importlib.util

    modules = {"pylibjpeg-libjpeg": "libjpeg", "pylibjpeg-openjpeg": "openjpeg", "pylibjpeg-rle": "rle"}
    return all(importlib.util.find_spec(modules.get(p, p)) is not None for p in package.split())


def _first_line(err: Exception) -> str:
    """The exception's first line, cut short, with quoted values blanked (they could be a patient's)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", text)
    return text if len(text) <= 160 else text[:157] + "..."


def _modality(ds: Any, pixels: np.ndarray, name: str) -> np.ndarray:
    """Stored values -> modality values (Hounsfield units for CT) as float64."""
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds and "ModalityLUTSequence" not in ds:
        return pixels.astype(np.float64)
    try:
        try:
            from pydicom.pixels import apply_modality_lut
        except ImportError:  # pydicom 2.x
            from pydicom.pixel_data_handlers.util import apply_modality_lut
        return np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    except Exception as err:
        raise ImageError(f"{name}: invalid modality LUT / rescale ({type(err).__name__})") from None


def _apply_window(ds: Any, values: np.ndarray, window: tuple[float, float] | str, name: str) -> np.ndarray:
    """Modality values -> 0-1 by the chosen window (see the module docstring for the order)."""
    if isinstance(window, tuple):
        return _linear(values, *window)
    if window == _AUTO and "VOILUTSequence" in ds:
        mapped = _voi_lut(ds, values)
        if mapped is not None:
            return mapped
    if window == _AUTO and "WindowCenter" in ds and "WindowWidth" in ds:
        centre, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        if centre is not None and width is not None and width > 0:
            function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
            if function == "SIGMOID":
                return 1.0 / (1.0 + np.exp(-4.0 * (values - centre) / width))
            if function == "LINEAR_EXACT":
                return np.clip((values - centre) / width + 0.5, 0.0, 1.0)
            return _linear(values, centre, width)
    return _minmax(values)


def _linear(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 LINEAR window, to 0-1: ``((x - (c - 0.5)) / (w - 1) + 0.5)``, clipped."""
    if width <= 1:
        return (values > centre - 0.5).astype(np.float64)
    return np.clip((values - (centre - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _minmax(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if high <= low:
        return np.zeros_like(values, dtype=np.float64)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _voi_lut(ds: Any, values: np.ndarray) -> np.ndarray | None:
    """The file's first VOI LUT, scaled by the range of its entries; None if it cannot be applied."""
    try:
        try:
            from pydicom.pixels import apply_voi_lut
        except ImportError:  # pydicom 2.x
            from pydicom.pixel_data_handlers.util import apply_voi_lut
        item = ds.VOILUTSequence[0]
        lut = np.asarray(item.LUTData, dtype=np.float64).ravel()
        mapped = np.asarray(apply_voi_lut(np.rint(values).astype(np.int64), ds, prefer_lut=True),
                            dtype=np.float64)
    except Exception:  # a malformed LUT: fall back to the file's window or min-max
        return None
    low, high = float(lut.min()), float(lut.max())
    return np.clip((mapped - low) / (high - low), 0.0, 1.0) if high > low else None


def _first(value: Any) -> float | None:
    """The first number of a single- or multi-valued DICOM element (a MultiValue is a Sequence)."""
    items = value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else [value]
    try:
        return float(items[0])
    except (TypeError, ValueError, IndexError):
        return None


def _colour_to_unit(ds: Any, pixels: np.ndarray) -> np.ndarray:
    """RGB (YBR already converted by pydicom) or palette colour -> HxWx3 float in 0-1 by bit depth."""
    if _photometric(ds) == "PALETTE COLOR" and pixels.ndim == 2:
        try:
            from pydicom.pixels import apply_color_lut
        except ImportError:  # pydicom 2.x
            from pydicom.pixel_data_handlers.util import apply_color_lut
        pixels = np.asarray(apply_color_lut(pixels, ds))
        depth = 16 if pixels.dtype.itemsize > 1 else 8
    else:
        depth = min(max(_int(ds, "BitsStored", 8), 1), 32)
    pixels = pixels[..., :3].astype(np.float64)
    return np.clip(pixels / float(2 ** depth - 1), 0.0, 1.0).astype(np.float32)


def _quiet_pydicom_log() -> None:
    """Keep pydicom's value warnings (which quote element values, e.g. a birth date) out of sightkit's logs."""
    import logging

    logger = logging.getLogger("pydicom")
    if not any(isinstance(f, _DropValueRecords) for f in logger.filters):
        logger.addFilter(_DropValueRecords())


class _DropValueRecords:
    """A logging filter that drops pydicom records below ERROR: they may quote patient data."""

    def filter(self, record: Any) -> bool:
        import logging

        return record.levelno >= logging.ERROR and "'" not in record.getMessage()
