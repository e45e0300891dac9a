"""Synthesis networks: a DCGAN generator (optionally class-conditional) and a projection discriminator.

* :class:`SynthGenerator`: noise ``z`` -> linear to a 4x4 map -> transposed-conv up-blocks (DCGAN,
  Radford et al. 2016) -> ``tanh`` image in [-1, 1]. With ``num_classes`` > 0 a learned class
  embedding is appended to ``z`` and every batch norm is *class-conditional* (a per-class gain
  and bias, as in SN-GAN / BigGAN), so the class steers the whole image, not just its first layer.
* :class:`ProjectionDiscriminator`: spectral-norm conv stages (Miyato et al. 2018), global sum
  pooling to a feature ``h``, logit ``w.h`` plus, when conditional, the projection term
  ``embed(y).h`` (Miyato & Koyama 2018). Trained with the hinge loss.

Architectures are registered by name (:data:`ARCHITECTURES`): ``dcgan`` is unconditional,
``cgan`` class-conditional; both work at 32 or 64 px, grey or RGB.

Example:
    >>> gen = create_generator("cgan", size=32, channels=1, num_classes=10, width=8)
    >>> z, y = torch.zeros(2, gen.z_dim), torch.tensor([3, 7])
    >>> gen(z, y).shape
    torch.Size([2, 1, 32, 32])
    >>> create_discriminator("cgan", size=32, channels=1, num_classes=10, width=8)(gen(z, y), y).shape
    torch.Size([2])
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from sightkit.errors import ModelError

ARCHITECTURES = {"dcgan": "unconditional DCGAN", "cgan": "class-conditional GAN (conditional BN + projection D)"}
SIZES = (32, 64)
BASE = 4  # side of the generator's first feature map


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine, then a gain and bias looked up per class (identity at init)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * self.gain(labels)[:, :, None, None] + self.bias(labels)[:, :, None, None]


class _UpBlock(nn.Module):
    """Transposed conv 4x4 stride 2 (doubles the side), batch norm (conditional or not), ReLU."""

    def __init__(self, in_chans: int, out_chans: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_chans, out_chans, 4, stride=2, padding=1, bias=False)
        self.norm = ConditionalBatchNorm2d(out_chans, num_classes) if num_classes else nn.BatchNorm2d(out_chans)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(x)
        x = self.norm(x, labels) if isinstance(self.norm, ConditionalBatchNorm2d) else self.norm(x)
        return torch.relu(x)


class SynthGenerator(nn.Module):
    """DCGAN generator from ``z_dim`` noise (and a class index when ``num_classes`` > 0) to an image.

    Widths halve per up-block and end at ``width`` channels before the last 3x3 conv.
    """

    def __init__(self, size: int = 32, channels: int = 1, num_classes: int = 0, z_dim: int = 128,
                 width: int = 32) -> None:
        super().__init__()
        self.size, self.channels, self.num_classes, self.z_dim = size, channels, num_classes, z_dim
        ups = int(math.log2(size // BASE))
        chans = [width * 2 ** (ups - i) for i in range(ups + 1)]  # e.g. 32 px, width 32: 256, 128, 64, 32
        self.class_embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        self.project = nn.Linear(z_dim * (2 if num_classes else 1), chans[0] * BASE * BASE, bias=False)
        self.project_norm = ConditionalBatchNorm2d(chans[0], num_classes) if num_classes else nn.BatchNorm2d(chans[0])
        self.blocks = nn.ModuleList(_UpBlock(chans[i], chans[i + 1], num_classes) for i in range(ups))
        self.to_image = nn.Conv2d(chans[-1], channels, 3, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and labels is None:
            raise ModelError("this generator is class-conditional: give a class label per sample")
        if self.class_embed is not None:
            z = torch.cat([z, self.class_embed(labels)], dim=1)
        x = self.project(z).view(len(z), -1, BASE, BASE)
        x = self.project_norm(x, labels) if self.num_classes else self.project_norm(x)
        x = torch.relu(x)
        for block in self.blocks:
            x = block(x, labels if self.num_classes else None)
        return torch.tanh(self.to_image(x))


class ProjectionDiscriminator(nn.Module):
    """Spectral-norm conv stages down to 4x4, global sum pooling, linear logit (+ class projection)."""

    def __init__(self, size: int = 32, channels: int = 1, num_classes: int = 0, width: int = 32) -> None:
        super().__init__()
        downs = int(math.log2(size // BASE))
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, width, 3, padding=1)), nn.LeakyReLU(0.1)]
        chans = width
        for stage in range(downs):
            wider = width * min(2 ** (stage + 1), 8)
            layers += [spectral_norm(nn.Conv2d(chans, wider, 4, stride=2, padding=1)), nn.LeakyReLU(0.1)]
            chans = wider
        self.features = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(chans, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, chans)) if num_classes else None
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(images).sum(dim=(2, 3))
        logits = self.linear(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ModelError("this discriminator is class-conditional: give a class label per image")
            logits = logits + (self.embed(labels) * h).sum(dim=1)
        return logits


def check_architecture(name: str, size: int, channels: int) -> None:
    """Raise :class:`ModelError` for an unknown architecture name, size or channel count."""
    if name not in ARCHITECTURES:
        raise ModelError(f"architecture {name!r} is unknown; choose one of {', '.join(ARCHITECTURES)}")
    if size not in SIZES:
        raise ModelError(f"--size {size}: synthesis models generate {' or '.join(map(str, SIZES))} px images")
    if channels not in (1, 3):
        raise ModelError(f"channels must be 1 (grey) or 3 (RGB), not {channels}")


def create_generator(name: str, size: int, channels: int, num_classes: int = 0, z_dim: int = 128,
                     width: int = 32) -> SynthGenerator:
    """The generator of architecture ``name`` (``dcgan`` ignores ``num_classes``)."""
    check_architecture(name, size, channels)
    return SynthGenerator(size, channels, num_classes if name == "cgan" else 0, z_dim, width)


def create_discriminator(name: str, size: int, channels: int, num_classes: int = 0,
                         width: int = 32) -> ProjectionDiscriminator:
    """The discriminator of architecture ``name`` (projection term only for ``cgan``)."""
    check_architecture(name, size, channels)
    return ProjectionDiscriminator(size, channels, num_classes if name == "cgan" else 0, width)
