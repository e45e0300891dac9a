"""``gated``: the mask-aware inpainting generator, and its PatchGAN discriminator.

An encoder-decoder of gated convolutions (Yu et al. 2019, *Free-Form Image Inpainting with
Gated Convolution*): every layer computes features and a learned soft gate
``elu(f) * sigmoid(g)``, so the network itself learns which pixels carry information
(the mask channel tells it where the hole is at the input; later gates track how far the
filled region has been reconstructed). The middle at 1/4 resolution is a stack of dilated
gated convolutions (dilation 2, 4, 8, 16), whose receptive field spans a 64-px hole at the
input. Input: ``image * (1 - mask)`` and ``mask`` (4 or 2 channels, values in 0-1); output:
the full image in 0-1. The caller composites: pixels outside the mask come from the input.

The discriminator is the spectral-norm PatchGAN of super-resolution
(:class:`~sightkit.tasks.enhance.discriminator_arch.PatchDiscriminator`), given the mask
as an extra channel so it judges the filled region in context.

Example:
    >>> net = GatedInpainter(channels=3, width=16)
    >>> net(torch.zeros(1, 3, 64, 48), torch.ones(1, 1, 64, 48)).shape
    torch.Size([1, 3, 64, 48])
    >>> MULTIPLE
    4
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sightkit.tasks.enhance.discriminator_arch import PatchDiscriminator

MULTIPLE = 4  # input sides must be a multiple of this (two stride-2 stages); predict pads
DILATIONS = (2, 4, 8, 16)


class GatedConv(nn.Module):
    """``elu(conv_f(x)) * sigmoid(conv_g(x))`` as one convolution with twice the outputs."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1,
                 activation: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout, kernel, stride, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, gate = self.conv(x).chunk(2, dim=1)
        return (F.elu(features) if self.activation else features) * torch.sigmoid(gate)


class GatedInpainter(nn.Module):
    """Encoder (full, 1/2, 1/4 resolution), dilated middle, decoder with skip connections."""

    def __init__(self, channels: int = 3, width: int = 32) -> None:
        super().__init__()
        w1, w2, w4 = width, 2 * width, 3 * width
        self.channels = channels
        self.enc1 = GatedConv(channels + 1, w1, 5)
        self.enc2 = nn.Sequential(GatedConv(w1, w2, 3, stride=2), GatedConv(w2, w2))
        self.enc4 = nn.Sequential(GatedConv(w2, w4, 3, stride=2), GatedConv(w4, w4))
        self.middle = nn.Sequential(*[GatedConv(w4, w4, dilation=d) for d in DILATIONS], GatedConv(w4, w4))
        self.dec2 = nn.Sequential(GatedConv(w4 + w2, w2), GatedConv(w2, w2))
        self.dec1 = GatedConv(w2 + w1, w1)
        self.out = nn.Conv2d(w1, channels, 3, padding=1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image * (1 - mask), mask], dim=1)
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        m = self.middle(self.enc4(e2))
        d2 = self.dec2(torch.cat([F.interpolate(m, size=e2.shape[-2:], mode="nearest"), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="nearest"), e1], dim=1))
        return torch.sigmoid(self.out(d1))


def create_inpainter(channels: int = 3, width: int = 32) -> GatedInpainter:
    """The generator a bundle's ``architecture`` describes (``name`` is always ``gated``)."""
    return GatedInpainter(channels=channels, width=width)


def create_inpaint_discriminator(channels: int = 3, features: int = 32) -> PatchDiscriminator:
    """PatchGAN with spectral norm over the image and its mask (``channels + 1`` inputs)."""
    return PatchDiscriminator(channels=channels + 1, features=features, stages=3)


def composite(image: torch.Tensor, fill: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``fill`` inside the mask, ``image`` outside it: the known pixels are never changed."""
    return image * (1 - mask) + fill * mask
