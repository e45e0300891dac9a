"""``gated``: the mask-aware inpainting generator, and its PatchGAN discriminator.

An encoder-decoder of gated convolutions (Yu et al. 2019, *Free-Form Image Inpainting with
Gated Convolution*): every layer computes features and a learned soft gate
``elu(f) * sigmoid(g)``, so the network itself learns which pixels carry information
(the mask channel tells it where the hole is at the input; later gates track how far the
filled region has been reconstructed). The middle at 1/4 resolution is a stack of dilated
gated convolutions (dilation 2, 4, 8, 16), whose receptive field spans a 64-px hole at the
input. The network refines a classical fill: it sees ``image * (1 - mask)``, ``mask`` and the
hole filled by OpenCV's Telea method (:func:`telea_fill`, the "coarse" image), and adds a
correction to the coarse image (its last layer starts at zero, so an untrained model *is*
Telea; training learns what the classical fill gets wrong: structure, texture, symmetry).
Output: the full image in 0-1. The caller composites: pixels outside the mask come from the
input.

The discriminator is the spectral-norm PatchGAN of super-resolution
(:class:`~sightkit.tasks.enhance.discriminator_arch.PatchDiscriminator`), given the mask
as an extra channel so it judges the filled region in context.

Example:
    >>> net = GatedInpainter(channels=3, width=16)
    >>> image, mask = torch.rand(1, 3, 64, 48), torch.zeros(1, 1, 64, 48)
    >>> mask[..., 20:40, 10:30] = 1
    >>> coarse = telea_fill(image, mask)
    >>> torch.equal(net(image, mask, coarse), coarse)  # untrained: the classical fill
    True
    >>> MULTIPLE
    4
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sightkit.tasks.enhance.discriminator_arch import PatchDiscriminator

MULTIPLE = 4  # input sides must be a multiple of this (two stride-2 stages); predict pads
DILATIONS = (2, 4, 8, 16)
TELEA_RADIUS = 5


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
        self.enc1 = GatedConv(2 * channels + 1, w1, 5)
        self.enc2 = nn.Sequential(GatedConv(w1, w2, 3, stride=2), GatedConv(w2, w2))
        self.enc4 = nn.Sequential(GatedConv(w2, w4, 3, stride=2), GatedConv(w4, w4))
        self.middle = nn.Sequential(*[GatedConv(w4, w4, dilation=d) for d in DILATIONS], GatedConv(w4, w4))
        self.dec2 = nn.Sequential(GatedConv(w4 + w2, w2), GatedConv(w2, w2))
        self.dec1 = GatedConv(w2 + w1, w1)
        self.out = nn.Conv2d(w1, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # start as the coarse fill itself
        nn.init.zeros_(self.out.bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image * (1 - mask), coarse, mask], dim=1)
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        m = self.middle(self.enc4(e2))
        d2 = self.dec2(torch.cat([F.interpolate(m, size=e2.shape[-2:], mode="nearest"), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="nearest"), e1], dim=1))
        return (coarse + self.out(d1)).clamp(0.0, 1.0)


def create_inpainter(channels: int = 3, width: int = 32) -> GatedInpainter:
    """The generator a bundle's ``architecture`` describes (``name`` is always ``gated``)."""
    return GatedInpainter(channels=channels, width=width)


def create_inpaint_discriminator(channels: int = 3, features: int = 32) -> PatchDiscriminator:
    """PatchGAN with spectral norm over the image and its mask (``channels + 1`` inputs)."""
    return PatchDiscriminator(channels=channels + 1, features=features, stages=3)


def telea_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The coarse fill: each image's hole (``mask`` 1) filled by OpenCV's Telea inpainting, as 0-1 floats.

    ``image`` ``B x C x H x W`` (C 1 or 3) and ``mask`` ``B x 1 x H x W``; runs on the CPU in
    uint8 (OpenCV's inpainting is 8-bit), the result goes back to ``image``'s device.
    """
    pixels = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    holes = (mask.detach()[:, 0] > 0.5).to(torch.uint8).cpu().numpy() * 255
    filled = [telea_fill_array(p, h) for p, h in zip(pixels, holes)]
    out = torch.from_numpy(np.stack(filled).astype(np.float32) / 255.0)
    return out.reshape(pixels.shape).permute(0, 3, 1, 2).contiguous().to(image.device)


def telea_fill_array(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``H x W x C`` uint8 with the ``hole`` (non-zero ``H x W``) filled by Telea's method (radius 5)."""
    return cv2.inpaint(np.ascontiguousarray(pixels), (hole > 0).astype(np.uint8) * 255, TELEA_RADIUS,
                       cv2.INPAINT_TELEA).reshape(pixels.shape)


def composite(image: torch.Tensor, fill: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``fill`` inside the mask, ``image`` outside it: the known pixels are never changed."""
    return image * (1 - mask) + fill * mask
