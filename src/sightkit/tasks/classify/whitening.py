"""A patch-whitening first layer, fitted to the training images before the first step.

The fast small-data CIFAR recipes (airbench) start with a frozen 2x2 convolution whose filters
are the eigenvectors of the training images' 2x2 patches, scaled by one over the square root of
their eigenvalues, each paired with its negative: the next layer sees decorrelated input of unit
variance from the first step on. The filters are a buffer (saved with the weights, never
trained); the bias trains.

Example:
    >>> layer = PatchWhitening(3)
    >>> layer.fit(torch.randn(64, 3, 16, 16))
    >>> layer(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 24, 15, 15])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 2
EPS = 5e-4  # added to the eigenvalues (airbench's value, on inputs normalised to unit variance)
MAX_PATCHES = 200_000


class PatchWhitening(nn.Module):
    """``2 * in_chans * 4`` fixed 2x2 whitening filters (each eigenvector and its negative) and a bias."""

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        dims = in_chans * PATCH * PATCH
        self.out_chans = 2 * dims
        self.register_buffer("weight", torch.zeros(self.out_chans, in_chans, PATCH, PATCH))
        self.bias = nn.Parameter(torch.zeros(self.out_chans))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias)

    @torch.no_grad()
    def fit(self, images: torch.Tensor, seed: int = 0) -> None:
        """Set the filters from ``images`` ``(N, C, H, W)``, normalised as the model sees them."""
        patches = F.unfold(images.float(), PATCH).transpose(1, 2).reshape(-1, self.weight[0].numel())
        if len(patches) > MAX_PATCHES:
            pick = torch.randperm(len(patches), generator=torch.Generator().manual_seed(seed))[:MAX_PATCHES]
            patches = patches[pick]
        patches = patches - patches.mean(0)
        eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))
        filters = (eigenvectors / (eigenvalues + EPS).sqrt()).T.flip(0)  # largest variance first
        filters = filters.reshape(-1, *self.weight.shape[1:])
        self.weight.copy_(torch.cat([filters, -filters]))


def fit_whitening(model: nn.Module, dataset: Sequence[tuple[torch.Tensor, int]], limit: int = 5000) -> bool:
    """Fit every :class:`PatchWhitening` of ``model`` to the first ``limit`` images of ``dataset``.

    Returns whether the model has one. Example:
        >>> from sightkit.tasks.classify.model import SkCNN
        >>> model = SkCNN(2, 1, widths=(8, 16), whiten=True)
        >>> fit_whitening(model, [(torch.randn(1, 8, 8), 0)] * 4)
        True
    """
    layers = [m for m in model.modules() if isinstance(m, PatchWhitening)]
    if not layers:
        return False
    images = torch.stack([dataset[i][0] for i in range(min(limit, len(dataset)))])
    for layer in layers:
        layer.fit(images)
    return True
