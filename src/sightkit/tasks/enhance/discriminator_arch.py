"""``patch_sn``: a fully convolutional discriminator with spectral norm (SRGAN/ESRGAN class).

VGG-style stages (a 3x3 conv, then a stride-2 4x4 conv) with spectral normalisation on
every layer (Miyato et al. 2018), LeakyReLU(0.2) and no batch norm; it returns one logit
per patch, so it takes any crop size and suits the relativistic average loss of
:mod:`sightkit.engine.gan_losses`. Inpainting and synthesis reuse it.

Example:
    >>> disc = PatchDiscriminator(channels=1, features=16, stages=3)
    >>> disc(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """Spectral-norm conv stages, each halving the size and doubling the width (capped at 4x)."""

    def __init__(self, channels: int = 3, features: int = 32, stages: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, features, 3, padding=1)),
                                   nn.LeakyReLU(0.2, inplace=True)]
        width = features
        for stage in range(stages):
            wider = features * min(2 ** (stage + 1), 4)
            layers += [spectral_norm(nn.Conv2d(width, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True),
                       spectral_norm(nn.Conv2d(width, wider, 3, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
            width = wider
        layers.append(spectral_norm(nn.Conv2d(width, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
