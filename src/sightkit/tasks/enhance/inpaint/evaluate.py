"""Inpainting quality inside the hole, beside OpenCV's classical inpainting, on the same images and masks.

Each image (shrunk so its longer side is at most ``max_side``) gets one seeded mask per
ratio bucket (10-20%, 20-30%, 30-40% of the pixels; strokes or a box, :mod:`.masks`). The
model, OpenCV's Telea (fast marching) and Navier-Stokes inpainting (radius 5) fill the
same holes, and each is scored inside the hole only: PSNR over RGB (0-255), SSIM on the
luma (Gaussian 11x11 window, sigma 1.5; the mean of the SSIM map over hole pixels), and
mean absolute error (0-1). ``report.html`` shows a grid per bucket: masked input, Telea,
Navier-Stokes, the model and the original.

Example:
    >>> report = evaluate(predictor, "held_out/", "runs/inpaint-eval")  # doctest: +SKIP
    >>> report["buckets"]["20-30%"]["model"]["psnr"] - report["buckets"]["20-30%"]["telea"]["psnr"]  # doctest: +SKIP
    1.8
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sightkit.core.folders import removed_on_failure
from sightkit.core.images import load_image
from sightkit.core.report import write_report
from sightkit.errors import DataError, ImageError
from sightkit.tasks.enhance.data import list_hr_images
from sightkit.tasks.enhance.inpaint.masks import RATIO_BUCKETS, bucket_mask, bucket_name
from sightkit.tasks.enhance.inpaint.predict import InpaintPredictor

OPENCV_RADIUS = 5
METHODS = ("model", "telea", "navier_stokes")
_GRID_ROWS = 4


def evaluate(predictor: InpaintPredictor, data: str | Path | Sequence[str | Path], out_dir: str | Path | None = None,
             max_side: int = 256, seed: int = 0, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Mean in-hole metrics per ratio bucket and method, per-image rows, and the report when ``out_dir`` is given."""
    paths = list_hr_images(data, "FOLDER") if isinstance(data, (str, Path)) else [Path(p) for p in data]
    rows: dict[str, list[dict[str, Any]]] = {bucket_name(b): [] for b in RATIO_BUCKETS}
    examples: dict[str, list[list[np.ndarray]]] = {bucket_name(b): [] for b in RATIO_BUCKETS}
    skipped: list[dict[str, str]] = []
    for index, path in enumerate(paths):
        try:
            original = shrink(np.asarray(load_image(path, "RGB")), max_side)
        except ImageError as exc:
            skipped.append({"path": str(path), "reason": str(exc)})
            if progress is not None:
                progress(1)
            continue
        height, width = original.shape[:2]
        for bucket in RATIO_BUCKETS:
            hole = bucket_mask(height, width, bucket, seed=seed * 1_000_003 + index * 7 + RATIO_BUCKETS.index(bucket)) > 0
            filled = fill_all(predictor, original, hole)
            rows[bucket_name(bucket)].append(
                {"image": path.name, "ratio": round(float(hole.mean()), 4),
                 **{m: hole_metrics(filled[m], original, hole) for m in METHODS}})
            if len(examples[bucket_name(bucket)]) < _GRID_ROWS:
                masked = original.copy()
                masked[hole] = 255
                examples[bucket_name(bucket)].append([masked, filled["telea"], filled["navier_stokes"],
                                                      filled["model"], original])
        if progress is not None:
            progress(1)
    if not any(rows.values()):
        raise DataError(f"FOLDER {data}: no image could be evaluated "
                        f"({skipped[0]['reason'] if skipped else 'none found'})")
    buckets = {name: {m: {k: float(np.mean([r[m][k] for r in found])) for k in ("psnr", "ssim", "l1")}
                      for m in METHODS} for name, found in rows.items()}
    report: dict[str, Any] = {
        "model": predictor.meta.get("kind", "l1"), "n": len(rows[bucket_name(RATIO_BUCKETS[0])]),
        "max_side": max_side, "seed": seed,
        **{f"psnr_{m}_20-30%": buckets["20-30%"][m]["psnr"] for m in METHODS},
        "gain_over_telea_db_20-30%": buckets["20-30%"]["model"]["psnr"] - buckets["20-30%"]["telea"]["psnr"],
        "buckets": buckets,
        "protocol": (f"each image shrunk to at most {max_side} px; one seeded mask per ratio bucket; metrics inside "
                     f"the hole only: PSNR on RGB 0-255, SSIM on luma, L1 on 0-1; OpenCV inpaint radius {OPENCV_RADIUS}"),
        "per_image": rows, "skipped": skipped,
    }
    if out_dir is not None:
        from sightkit.tasks.enhance.inpaint.plots import example_grid

        figures = {f"examples_{name.replace('%', 'pct')}": example_grid(found, name)
                   for name, found in examples.items() if found}
        with removed_on_failure(out_dir) as folder:
            report["report_html"] = str(write_report(
                folder, report, figures, title="sightkit inpainting report",
                summary_keys=["model", "n", "max_side", *[f"psnr_{m}_20-30%" for m in METHODS],
                              "gain_over_telea_db_20-30%"]))
    return report


def shrink(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """``pixels`` shrunk (area interpolation) so the longer side is at most ``max_side``."""
    factor = max_side / max(pixels.shape[:2])
    if factor >= 1.0:
        return pixels
    size = (max(1, round(pixels.shape[1] * factor)), max(1, round(pixels.shape[0] * factor)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def fill_all(predictor: InpaintPredictor, original: np.ndarray, hole: np.ndarray) -> dict[str, np.ndarray]:
    """The hole of ``original`` filled by the model and by OpenCV's two methods (holes blacked out first)."""
    damaged = original.copy()
    damaged[hole] = 0
    mask8 = hole.astype(np.uint8) * 255
    return {  # OpenCV inpaints each channel alike, so RGB order needs no conversion
        "model": predictor.fill_array(damaged, hole),
        "telea": cv2.inpaint(damaged, mask8, OPENCV_RADIUS, cv2.INPAINT_TELEA),
        "navier_stokes": cv2.inpaint(damaged, mask8, OPENCV_RADIUS, cv2.INPAINT_NS),
    }


def hole_metrics(filled: np.ndarray, original: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    """PSNR (RGB, 0-255), SSIM (luma) and L1 (0-1) over the ``hole`` pixels only.

    Example:
        >>> a = np.zeros((16, 16, 3), np.uint8); hole = np.zeros((16, 16), bool); hole[4:8, 4:8] = True
        >>> hole_metrics(a, a, hole)["psnr"]
        100.0
    """
    error = filled[hole].astype(np.float64) - original[hole].astype(np.float64)
    mse = float(np.mean(error ** 2))
    psnr = 100.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
    return {"psnr": float(psnr), "ssim": float(_ssim_map(_luma(filled), _luma(original))[hole].mean()),
            "l1": float(np.mean(np.abs(error)) / 255.0)}


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The SSIM map of two luma images (0-255), Gaussian window sigma 1.5 (Wang et al. 2004's constants)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
