"""Upscale image files into a folder: names, formats, EXIF and atomic writes.

Every input is checked from its header first (readable, large enough, output fits in
memory), so a batch fails before writing anything when the options are wrong, and one bad
file is reported without stopping the others. Each output is written to a temporary file
and renamed, so there is never a half-written image.

Example:
    >>> results = upscale_files(predictor, ["photos/"], "big/")  # doctest: +SKIP
    >>> results[0].output  # doctest: +SKIP
    'big/cat.jpg'
"""

from __future__ import annotations

import glob
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from sightkit.core.fileio import atomic_write_bytes
from sightkit.core.folders import removed_on_failure
from sightkit.core.images import is_image_file, peek
from sightkit.errors import DataError, EnhanceError, ImageError
from sightkit.tasks.enhance.predict import Predictor

# Output format by input suffix; formats that cannot hold the result become PNG.
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
            ".bmp": "BMP"}
_JPEG_QUALITY = 95
_ORIENTATION_TAG = 0x0112
_HIGH_BIT_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})


@dataclass
class UpscaleResult:
    """The outcome for one input file."""

    path: str
    output: str | None = None
    size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``error`` only when there is one)."""
        data = asdict(self)
        if self.error is None:
            data.pop("error")
        return data


def expand_image_paths(sources: Sequence[str | Path]) -> list[Path]:
    """Files, folders (recursively) and globs -> image files in order; refuses an empty result."""
    paths: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
        elif path.exists():
            paths.append(path)
        else:
            matches = sorted(glob.glob(str(source), recursive=True))
            if not matches:
                raise DataError(f"{source}: no such file, folder or glob match")
            paths += [Path(m) for m in matches if is_image_file(m)]
    if not paths:
        raise DataError(f"no image files to upscale in {' '.join(map(str, sources))}")
    return paths


def output_path(source: Path, out_dir: Path) -> Path:
    """``out_dir/<name>``, with a suffix Pillow can write the result as (``.gif`` etc. -> ``.png``)."""
    suffix = source.suffix.lower()
    return out_dir / (source.name if suffix in _FORMATS else f"{source.stem}.png")


def upscale_files(predictor: Predictor, sources: Sequence[str | Path], out_dir: str | Path, tile: int | None = None,
                  progress: Callable[[int], None] | None = None) -> list[UpscaleResult]:
    """Upscale every image of ``sources`` into ``out_dir``; failures are listed, not raised.

    When not one image can be upscaled, :class:`EnhanceError` says why (the first failure) and
    ``out_dir``, if this call created it, is removed again: a failed batch leaves no empty folder.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise EnhanceError(f"--out {out_dir}: is a file, not a folder; choose a folder for the upscaled images")
    paths = expand_image_paths(sources)
    targets = [output_path(p, out_dir) for p in paths]
    _check_targets(paths, targets)
    results = [_preflight(predictor, path) for path in paths]
    with removed_on_failure(out_dir):
        for path, target, result in zip(paths, targets, results):
            if result.error is None:
                _upscale_one(predictor, path, target, tile, result)
            if progress is not None:
                progress(1)
        if all(r.output is None for r in results):
            first = results[0].error
            raise EnhanceError(first if len(results) == 1 else
                               f"none of the {len(results)} images could be upscaled (first: {first})")
    return results


def _check_targets(paths: list[Path], targets: list[Path]) -> None:
    resolved = [t.resolve() for t in targets]
    for path, target in zip(paths, resolved):
        if path.resolve() == target:
            raise EnhanceError(f"--out would overwrite the input {path}; choose another folder")
    if len(set(resolved)) < len(resolved):
        seen: set[Path] = set()
        dup = next(t for t in resolved if t in seen or seen.add(t))  # type: ignore[func-returns-value]
        raise EnhanceError(f"two inputs would both be written to {dup}; upscale them into different folders")


def _preflight(predictor: Predictor, path: Path) -> UpscaleResult:
    """Header checks only: readable, not too small, output fits in memory."""
    result = UpscaleResult(str(path))
    try:
        width, height, mode = peek(path)
        predictor.check_size(width, height, str(path))
    except (ImageError, EnhanceError) as exc:
        result.error = str(exc)
        return result
    result.size = (width, height)
    if mode in _HIGH_BIT_MODES:
        result.notes.append(f"{mode} input: upscaled and written with 8 bits per channel")
    if mode == "CMYK":
        result.notes.append("CMYK input: converted to RGB")
    if mode == "P":
        result.notes.append("palette input: written as full colour")
    return result


def _upscale_one(predictor: Predictor, path: Path, target: Path, tile: int | None, result: UpscaleResult) -> None:
    start = time.perf_counter()
    try:
        image = predictor.upscale_image(path, tile=tile)
        data = _encode(image, path, target)
    except (ImageError, EnhanceError) as exc:  # their messages name the file
        result.error = str(exc)
        return
    except OSError as exc:
        result.error = f"{path}: {exc.strerror or exc}"
        return
    try:
        atomic_write_bytes(target, data)
    except OSError as exc:
        result.error = f"{target}: cannot be written ({exc.strerror or exc})"
        return
    result.output, result.output_size = str(target), image.size
    result.seconds = round(time.perf_counter() - start, 3)


def _encode(image: Image.Image, source: Path, target: Path) -> bytes:
    """The output file's bytes, with the source's EXIF (orientation reset: pixels are upright)."""
    fmt = _FORMATS[target.suffix.lower()]
    options: dict[str, Any] = {}
    with Image.open(source) as original:
        exif = original.getexif()
        icc = original.info.get("icc_profile") if original.mode in ("RGB", "RGBA", "L", "LA") else None
    if exif:
        exif[_ORIENTATION_TAG] = 1
        options["exif"] = exif.tobytes()
    if icc:
        options["icc_profile"] = icc
    if fmt == "JPEG":
        options["quality"] = _JPEG_QUALITY
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
