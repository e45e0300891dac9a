"""Metrics follow the published convention (studio Y, border crop) and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from sightkit.tasks.enhance.color import luma, rgb_to_ycbcr, studio_y, ycbcr_to_rgb
from sightkit.tasks.enhance.degrade import bicubic_downscale, bicubic_upscale, mod_crop
from sightkit.tasks.enhance.metrics import psnr_y, sharpness, ssim_y, y_psnr_tensor

from enhance_helpers import smooth_image


def test_studio_y_matches_matlab_rgb2ycbcr() -> None:
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], dtype=np.uint8)
    assert studio_y(pixels).round(3).tolist() == [[16.0, 235.0, 81.481]]


def test_ycbcr_round_trip_and_grey_luma() -> None:
    rgb = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    assert np.allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-6)
    grey = np.full((3, 3), 100, np.uint8)
    assert np.allclose(luma(np.stack([grey] * 3, -1)), luma(grey))


def test_psnr_known_value_and_border_crop() -> None:
    hr = np.full((20, 20), 128, np.uint8)
    sr = hr.copy()
    sr[0, :] = 0  # only in the cropped border: invisible to the metric
    assert psnr_y(sr, hr, crop=2) == math.inf
    sr[10, 10] = 138  # one pixel off by 10 grey levels = 10 * 219/255 in studio Y
    expected = 10 * math.log10(255**2 / ((10 * 219 / 255) ** 2 / 16**2))
    assert psnr_y(sr, hr, crop=2) == pytest.approx(expected)


def test_ssim_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    hr = np.asarray(smooth_image(48, 40, seed=1))
    sr = np.clip(hr.astype(int) + rng.integers(-15, 16, hr.shape), 0, 255).astype(np.uint8)
    reference = metrics.structural_similarity(studio_y(sr)[3:-3, 3:-3], studio_y(hr)[3:-3, 3:-3], data_range=255,
                                              gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim_y(sr, hr, crop=3) == pytest.approx(reference, abs=1e-9)
    assert ssim_y(hr, hr, crop=3) == pytest.approx(1.0)


def test_sharpness_ranks_blur_below_detail() -> None:
    image = smooth_image(64, 64, seed=2)
    blurred = image.filter(ImageFilter.GaussianBlur(2))
    assert sharpness(np.asarray(blurred)) < sharpness(np.asarray(image))


def test_training_psnr_agrees_with_saved_image_psnr() -> None:
    hr = np.asarray(smooth_image(40, 40, seed=3).convert("L"))
    sr = np.asarray(Image.fromarray(hr).filter(ImageFilter.GaussianBlur(1)))
    as_tensor = [torch.from_numpy(a.astype(np.float32) / 255)[None, None] for a in (sr, hr)]
    assert float(y_psnr_tensor(*as_tensor, crop=2)) == pytest.approx(psnr_y(sr, hr, crop=2), abs=1e-3)


def test_bicubic_on_set5_matches_published_table(set5) -> None:
    published = {2: 33.66, 3: 30.39, 4: 28.42}
    for scale, value in published.items():
        scores = []
        for path in sorted(set5.glob("*.png")):
            hr = mod_crop(Image.open(path).convert("RGB"), scale)
            sr = bicubic_upscale(bicubic_downscale(hr, scale), scale)
            scores.append(psnr_y(np.asarray(sr), np.asarray(hr), scale))
        assert np.mean(scores) == pytest.approx(value, abs=0.02)


def test_y_psnr_tensor_takes_rgb_batches():
    """The tensor version (training validation) on RGB: a grey RGB pair scores as its one-channel copy."""
    import torch

    from sightkit.tasks.enhance.metrics import y_psnr_tensor

    generator = torch.Generator().manual_seed(0)
    hr = torch.rand(1, 1, 16, 16, generator=generator, dtype=torch.float64)
    sr = (hr + 0.05 * torch.randn(1, 1, 16, 16, generator=generator, dtype=torch.float64)).clamp(0, 1)
    grey = float(y_psnr_tensor(sr, hr, crop=2))
    rgb = float(y_psnr_tensor(sr.repeat(1, 3, 1, 1), hr.repeat(1, 3, 1, 1), crop=2))
    assert 20 < grey < 40 and abs(rgb - grey) < 1e-6
