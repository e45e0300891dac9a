"""``lightsr``: the light PSNR-oriented generator for edge devices (ESPCN/FSRCNN class).

All convolutions run at low resolution; one pixel shuffle makes the output, and a bicubic
skip means the network only learns the detail that bicubic upsampling misses (global
residual learning, as in VDSR), which makes short CPU training converge.

    LR -> conv3x3(C) -> [conv3x3(C) + ReLU] x blocks (+ long skip) -> conv3x3(s*s*ch)
       -> pixel shuffle(s) -> + bicubic(LR)

With the defaults (32 features, 8 blocks) it has 79k parameters at x4 on one channel.

Example:
    >>> net = LightSR(scale=4, channels=1)
    >>> net(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 1, 32, 32])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LightSR(nn.Module):
    """A plain conv stack at low resolution with pixel-shuffle upsampling and a bicubic skip."""

    def __init__(self, scale: int, channels: int = 1, features: int = 32, blocks: int = 8) -> None:
        super().__init__()
        self.scale, self.channels = scale, channels
        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.body = nn.Sequential(*[
            layer for _ in range(blocks)
            for layer in (nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True))
        ])
        self.tail = nn.Conv2d(features, channels * scale * scale, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # start as exact bicubic; training adds the detail
        nn.init.zeros_(self.tail.bias)
        # 3x3 convs: head, each block, tail; bicubic reads 2 pixels to each side.
        self.receptive_radius = max(blocks + 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.body(features)
        detail = F.pixel_shuffle(self.tail(features), self.scale)
        return detail + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
