"""Reference images that stand for "no information": for integrated gradients and faithfulness.

All work on normalised model inputs ``(N, C, H, W)`` (after ``(x - mean) / std``):

* ``black`` - every pixel black (0 before normalisation);
* ``mean``  - every pixel the normalisation mean, i.e. 0 after normalisation: a flat grey
  (or the mean colour) that carries no edges;
* ``blur``  - the image under a Gaussian blur with sigma = side / 8 (as in RISE, Petsiuk et
  al. 2018): colours and coarse layout stay, shapes and edges go.

Example:
    >>> base = make_baseline(batch, "blur", mean=[0.5], std=[0.25])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms.v2 import functional as F

from sightkit.explain.choices import BASELINES, check_choice

# Blur strength as a fraction of the image side: strong enough to erase digit strokes and
# object shapes at 8-64 px, as RISE's insertion baseline does.
BLUR_SIGMA_FRACTION = 1 / 8


def make_baseline(inputs: torch.Tensor, kind: str, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """The ``kind`` baseline for a batch of normalised ``inputs`` (same shape and device).

    Example:
        >>> make_baseline(torch.ones(1, 1, 4, 4), "black", [0.5], [0.25])[0, 0, 0, 0].item()
        -2.0
    """
    check_baseline(kind)
    if kind == "mean":
        return torch.zeros_like(inputs)
    if kind == "black":
        shift = -torch.as_tensor(mean, dtype=inputs.dtype) / torch.as_tensor(std, dtype=inputs.dtype)
        return shift.to(inputs.device).view(1, -1, 1, 1).expand_as(inputs).clone()
    side = min(inputs.shape[-2:])
    sigma = max(0.5, side * BLUR_SIGMA_FRACTION)
    kernel = 2 * int(3 * sigma) + 1
    return F.gaussian_blur(inputs.detach(), [kernel, kernel], [sigma, sigma])


def check_baseline(kind: str, choices: Sequence[str] = BASELINES, option: str = "--baseline") -> None:
    """Raise :class:`~sightkit.errors.ConfigError` naming ``option`` unless ``kind`` is one of ``choices``."""
    check_choice(kind, choices, option)
