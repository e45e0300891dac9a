"""Residual generators: ``srresnet`` (SRGAN's MSRResNet) and ``rrdb`` (ESRGAN's RRDBNet).

Both keep features at low resolution and upsample at the end (pixel shuffle for x2/x3,
two x2 steps for x4), and add a bicubic skip like :mod:`lightsr_arch`. The defaults are
smaller than the published ones (64 features, 16 blocks / 23 RRDBs) so that they train
on a CPU; pass the published sizes to match the papers.

Example:
    >>> net = RRDBNet(scale=2, channels=3, features=16, blocks=1, growth=8)
    >>> net(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 3, 16, 16])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Residual scaling of ESRGAN: keeps very deep residual stacks stable.
_RESIDUAL_SCALE = 0.2


class _ResidualBlock(nn.Module):
    """conv-ReLU-conv with an identity skip (no batch norm, as in EDSR/MSRResNet)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x), inplace=True))


class _DenseBlock(nn.Module):
    """Five densely connected convs (ESRGAN's RDB) with a scaled residual."""

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(features + i * growth, growth if i < 4 else features, 3, padding=1) for i in range(5)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(inputs, dim=1))
            if i < 4:
                inputs.append(F.leaky_relu(out, 0.2, inplace=True))
        return x + _RESIDUAL_SCALE * out


class _RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and an outer scaled residual."""

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(_DenseBlock(features, growth) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + _RESIDUAL_SCALE * self.blocks(x)


class _Upsampler(nn.Sequential):
    """Pixel-shuffle upsampling: one x2/x3 step, or two x2 steps for x4."""

    def __init__(self, scale: int, features: int) -> None:
        steps = [2, 2] if scale == 4 else [scale]
        layers: list[nn.Module] = []
        for step in steps:
            layers += [nn.Conv2d(features, features * step * step, 3, padding=1), nn.PixelShuffle(step),
                       nn.LeakyReLU(0.2, inplace=True)]
        super().__init__(*layers)


class _ResidualGenerator(nn.Module):
    """Shared frame: head conv, a body with a long skip, upsampler, output conv, bicubic skip."""

    def __init__(self, scale: int, channels: int, features: int, body: nn.Module, body_radius: int) -> None:
        super().__init__()
        self.scale, self.channels = scale, channels
        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.body = body
        self.body_out = nn.Conv2d(features, features, 3, padding=1)
        self.upsample = _Upsampler(scale, features)
        self.out = nn.Conv2d(features, channels, 3, padding=1)
        # head + body + body_out, then the upsampler and output convs (counted in LR pixels, rounded up).
        self.receptive_radius = 2 + body_radius + len([2, 2] if scale == 4 else [scale]) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.body_out(self.body(features))
        detail = self.out(self.upsample(features))
        return detail + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)


class MSRResNet(_ResidualGenerator):
    """SRGAN's generator without batch norm (BasicSR's MSRResNet)."""

    def __init__(self, scale: int, channels: int = 3, features: int = 32, blocks: int = 8) -> None:
        body = nn.Sequential(*(_ResidualBlock(features) for _ in range(blocks)))
        super().__init__(scale, channels, features, body, body_radius=2 * blocks)


class RRDBNet(_ResidualGenerator):
    """ESRGAN's generator: residual-in-residual dense blocks."""

    def __init__(self, scale: int, channels: int = 3, features: int = 32, blocks: int = 4, growth: int = 16) -> None:
        body = nn.Sequential(*(_RRDB(features, growth) for _ in range(blocks)))
        super().__init__(scale, channels, features, body, body_radius=15 * blocks)
