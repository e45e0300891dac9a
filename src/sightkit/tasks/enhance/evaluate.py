"""Evaluate a super-resolution model on HR images, the way published tables do.

Each HR image is cropped to a multiple of the scale and downscaled with Pillow's
antialiased bicubic; the model's upscale (through the same path as ``upscale``, rounded to
8 bits) is compared with the HR image by Y-PSNR and Y-SSIM with ``scale`` px cropped at
each border, beside bicubic upscaling of the same LR image. The no-reference sharpness of
model, bicubic and HR shows what PSNR punishes in GAN output.

Example:
    >>> report = evaluate(Predictor.from_bundle(path), "data/Set5", "runs/x4/report-Set5")  # doctest: +SKIP
    >>> report["psnr_y"], report["bicubic_psnr_y"]  # doctest: +SKIP
    (30.52, 28.43)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sightkit.core.folders import removed_on_failure
from sightkit.core.images import load_image
from sightkit.core.report import write_report
from sightkit.errors import DataError, EnhanceError, ImageError
from sightkit.tasks.enhance.data import list_hr_images
from sightkit.tasks.enhance.degrade import bicubic_downscale, bicubic_upscale, mod_crop
from sightkit.tasks.enhance.metrics import psnr_y, sharpness, ssim_y
from sightkit.tasks.enhance.plots import plot_crops
from sightkit.tasks.enhance.predict import Predictor

_METRICS = ("psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y", "sharpness", "bicubic_sharpness", "hr_sharpness")
_CROP_ROWS = 6  # images shown in the report's crop figure


def evaluate(predictor: Predictor, data: str | Path | Sequence[str | Path], out_dir: str | Path | None = None,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Mean and per-image metrics of ``predictor`` on HR images (a folder or a list of files).

    With ``out_dir``, also writes ``report.json``, ``crops.png`` and ``report.html`` there (only
    once every image is measured; a folder this call made is removed if writing fails).
    """
    paths = list_hr_images(data) if isinstance(data, (str, Path)) else [Path(p) for p in data]
    scale = predictor.scale
    per_image: dict[str, dict[str, float]] = {}
    skipped: list[dict[str, str]] = []
    crops = []
    for path in paths:
        try:
            hr = mod_crop(load_image(path, "RGB"), scale)
            lr = bicubic_downscale(hr, scale)
            sr = predictor.upscale_image(lr)
        except (ImageError, EnhanceError) as exc:
            skipped.append({"path": str(path), "reason": str(exc)})
        else:
            bicubic = bicubic_upscale(lr, scale)
            per_image[path.name] = _image_metrics(np.asarray(sr), np.asarray(bicubic), np.asarray(hr), scale)
            if len(crops) < _CROP_ROWS:
                crops.append((path.stem, hr, bicubic, sr))
        if progress is not None:
            progress(1)
    if not per_image:
        raise DataError(f"HR_FOLDER {data}: no image could be evaluated "
                        f"({skipped[0]['reason'] if skipped else 'none found'})")
    report: dict[str, Any] = {
        "model": predictor.meta["architecture"]["name"], "kind": predictor.meta.get("kind", "psnr"),
        "scale": scale, "n": len(per_image),
        **{key: float(np.mean([m[key] for m in per_image.values()])) for key in _METRICS},
        "convention": f"Y (BT.601 studio range), {scale} px border crop, LR by Pillow antialiased bicubic",
        "sharpness_measure": "mean Sobel gradient magnitude of Y (no reference; HR is the natural level)",
        "per_image": per_image, "skipped": skipped,
    }
    if out_dir is not None:
        label = f"{report['model']} ({report['kind']})"
        figures = {"crops": plot_crops(crops, label)}
        with removed_on_failure(out_dir) as folder:
            report["report_html"] = str(write_report(
                folder, report, figures, title=f"sightkit super-resolution report: x{scale}",
                summary_keys=["model", "kind", "scale", "n", *_METRICS]))
    return report


def _image_metrics(sr: np.ndarray, bicubic: np.ndarray, hr: np.ndarray, scale: int) -> dict[str, float]:
    return {
        "psnr_y": psnr_y(sr, hr, scale), "ssim_y": ssim_y(sr, hr, scale),
        "bicubic_psnr_y": psnr_y(bicubic, hr, scale), "bicubic_ssim_y": ssim_y(bicubic, hr, scale),
        "sharpness": sharpness(sr, scale), "bicubic_sharpness": sharpness(bicubic, scale),
        "hr_sharpness": sharpness(hr, scale),
    }
