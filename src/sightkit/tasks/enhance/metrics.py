"""Super-resolution metrics, in the convention of published tables (BasicSR's ``metrics/``).

Convention of :func:`psnr_y` and :func:`ssim_y`:

* inputs are 8-bit images (HxWx3 RGB or HxW grey, uint8), the SR output as it would be saved;
* both are reduced to studio-range Y (MATLAB ``rgb2ycbcr``, 16-235, see :mod:`.color`);
* ``crop`` pixels (the scale) are removed at each border; maths in float64;
* PSNR uses peak 255; SSIM is Wang et al. 2004 (11x11 Gaussian window, sigma 1.5,
  K1 = 0.01, K2 = 0.03, L = 255), averaged over the window positions inside the image.

:func:`sharpness` is a no-reference measure for GAN models, whose invented detail PSNR punishes.

Example:
    >>> import numpy as np
    >>> hr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> psnr_y(hr, hr, crop=4)
    inf
    >>> round(ssim_y(hr, hr, crop=4), 6)
    1.0
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sightkit.tasks.enhance.color import studio_y

_PEAK = 255.0
_SSIM_WINDOW, _SSIM_SIGMA = 11, 1.5
_SSIM_C1, _SSIM_C2 = (0.01 * _PEAK) ** 2, (0.03 * _PEAK) ** 2
# Full-range Y (0-1) errors scale by 219/255 in studio-range Y; see :func:`y_psnr_tensor`.
_STUDIO_GAIN_DB = 20.0 * math.log10(255.0 / 219.0)


def psnr_y(sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    """PSNR in dB of the studio-range Y channels, ``crop`` px removed at each border.

    Example:
        >>> a = np.zeros((8, 8), np.uint8); b = a.copy(); b[4, 4] = 10
        >>> round(psnr_y(b, a, crop=2), 2)
        41.49
    """
    diff = _cropped_y(sr, crop) - _cropped_y(hr, crop)
    mse = float(np.mean(diff**2))
    return math.inf if mse == 0 else 10.0 * math.log10(_PEAK**2 / mse)


def ssim_y(sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    """Mean SSIM of the studio-range Y channels, ``crop`` px removed at each border."""
    x = torch.from_numpy(_cropped_y(sr, crop))[None, None]
    y = torch.from_numpy(_cropped_y(hr, crop))[None, None]
    window = _gaussian_window().to(x)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_x**2 + mu_y**2 + _SSIM_C1) * (var_x + var_y + _SSIM_C2))
    return float(ssim_map.mean())


def sharpness(image: np.ndarray, crop: int = 0) -> float:
    """No-reference sharpness: mean Sobel gradient magnitude of studio Y (Tenengrad, 0-255 units).

    Higher means more high-frequency detail; compare a model with bicubic and the HR image
    (which scores highest when the model invents no false edges).

    Example:
        >>> flat = np.full((16, 16), 128, np.uint8)
        >>> round(sharpness(flat), 6)
        0.0
    """
    y = torch.from_numpy(_cropped_y(image, crop))[None, None]
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=y.dtype)
    kernels = torch.stack([kx, kx.T])[:, None]
    grad = F.conv2d(y, kernels) / 8.0
    return float(grad.pow(2).sum(1).sqrt().mean())


def y_psnr_tensor(sr: torch.Tensor, hr: torch.Tensor, crop: int) -> torch.Tensor:
    """Studio-Y PSNR of full-range Y (or RGB) tensors in 0-1, ``N x C x H x W``, during training.

    The SR output is clamped to 0-1 but not rounded, so it can read a little higher than
    :func:`psnr_y` on saved 8-bit images.
    """
    if sr.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=sr.dtype, device=sr.device).view(1, 3, 1, 1)
        sr, hr = (sr * weights).sum(1, keepdim=True), (hr * weights).sum(1, keepdim=True)
    sr = sr.clamp(0, 1)
    if crop:
        sr, hr = sr[..., crop:-crop, crop:-crop], hr[..., crop:-crop, crop:-crop]
    mse = F.mse_loss(sr.double(), hr.double())
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-12)) + _STUDIO_GAIN_DB


def _cropped_y(image: np.ndarray, crop: int) -> np.ndarray:
    y = studio_y(np.asarray(image))
    return y[crop:-crop, crop:-crop] if crop else y


def _gaussian_window() -> torch.Tensor:
    coords = torch.arange(_SSIM_WINDOW, dtype=torch.float64) - _SSIM_WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * _SSIM_SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]
