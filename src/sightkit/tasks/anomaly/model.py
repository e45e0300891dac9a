"""Anomaly architectures: patch-feature extractors for PatchCore and a convolutional autoencoder.

A :class:`PatchFeatures` turns a normalised batch into one feature vector per patch,
``(N, D, h, w)``: two mid-level feature maps of a backbone, each averaged over its 3x3
neighbourhood (PatchCore's local aggregation) and brought to the resolution of the shallower
one. The backbone is either the built-in :class:`RandomWideCNN` (fixed random weights: nothing
to download or train) or the CNN of a ``classify`` bundle.

Example:
    >>> features = PatchFeatures(RandomWideCNN(1, widths=(8, 16, 32)))
    >>> features(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 48, 8, 8])
    >>> ConvAutoencoder(3)(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sightkit.errors import ModelError

BUILTIN_BACKBONE = "random_wide"
RANDOM_WIDTHS = (64, 128, 256)


class RandomWideCNN(nn.Module):
    """Three conv + ReLU + 2x2 average-pool stages with seeded Kaiming-normal random weights.

    Untrained random convolutions still measure local colour, edge and texture statistics, which
    is what patch-level anomaly scores compare; it needs no download and no training.
    ``levels`` returns the outputs of stages 2 and 3 (1/4 and 1/8 of the input side).
    """

    def __init__(self, in_chans: int, widths: tuple[int, ...] = RANDOM_WIDTHS, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        stages, prev = [], in_chans
        for width in widths:
            conv = nn.Conv2d(prev, width, 3, padding=1)
            with torch.no_grad():
                conv.weight.normal_(0.0, (2.0 / (prev * 9)) ** 0.5, generator=generator)
                conv.bias.zero_()
            stages.append(nn.Sequential(conv, nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True)))
            prev = width
        self.stages = nn.ModuleList(stages)

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps of the last two stages."""
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs[-2:]


class ClassifyBackbone(nn.Module):
    """The CNN of a classify bundle, giving two mid-level feature maps.

    Built-in ``skcnn_*`` models give the outputs of their last two stages; timm models give
    the last two of their feature levels with a stride of at most 16 whose maps are at least
    4 px wide (``forward_intermediates``), e.g. ResNet's layer2 and layer3 (PatchCore's choice)
    from 64 px up.
    """

    def __init__(self, model: nn.Module, size: int) -> None:
        super().__init__()
        from sightkit.tasks.classify.model import SkCNN

        self.model = model
        if isinstance(model, SkCNN):
            self._indices: list[int] = []
            self._skcnn = True
            return
        self._skcnn = False
        info = getattr(model, "feature_info", None)
        if info is None or not hasattr(model, "forward_intermediates"):
            raise ModelError(f"--backbone: {type(model).__name__} gives no intermediate feature maps "
                             "(use a skcnn_* or a timm CNN bundle)")
        reductions = [level["reduction"] for level in info]
        usable = [i for i, r in enumerate(reductions) if r <= min(16, max(4, size // 4))]
        if len(usable) < 2:
            usable = list(range(min(2, len(reductions))))
        self._indices = usable[-2:]

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Two feature maps, shallower first."""
        if self._skcnn:
            outputs = []
            for index, layer in enumerate(self.model.features):
                x = layer(x)
                if index % 3 == 0 and index > 0:  # stem, then (conv, pool, residual) per stage
                    outputs.append(x)
            return outputs[-2:]
        return list(self.model.forward_intermediates(x, indices=self._indices, intermediates_only=True))


class PatchFeatures(nn.Module):
    """One feature vector per patch: two backbone levels, 3x3-averaged, at the shallower level's size."""

    def __init__(self, backbone: RandomWideCNN | ClassifyBackbone) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shallow, deep = self.backbone.levels(x)
        side = shallow.shape[-2:]
        shallow = F.avg_pool2d(shallow, 3, stride=1, padding=1, count_include_pad=False)
        deep = F.avg_pool2d(deep, 3, stride=1, padding=1, count_include_pad=False)
        deep = F.interpolate(deep, size=side, mode="bilinear", align_corners=False)
        return torch.cat([shallow, deep], dim=1)


class ConvAutoencoder(nn.Module):
    """A small convolutional autoencoder: three stride-2 stages down to a ``latent``-channel
    bottleneck at 1/8 of the side, and three transposed-convolution stages back up.

    The narrow bottleneck is what makes it fail on what it has not seen: normal images come
    back close, unusual content comes back blurred towards normal. Input sides must be
    multiples of 8.
    """

    def __init__(self, in_chans: int, width: int = 32, latent: int = 16) -> None:
        super().__init__()

        def down(i: int, o: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.LeakyReLU(0.2)]

        def up(i: int, o: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.ReLU()]

        self.encoder = nn.Sequential(*down(in_chans, width), *down(width, 2 * width), *down(2 * width, 4 * width),
                                     nn.Conv2d(4 * width, latent, 1))
        self.decoder = nn.Sequential(nn.Conv2d(latent, 4 * width, 1), nn.ReLU(), *up(4 * width, 2 * width),
                                     *up(2 * width, width), nn.ConvTranspose2d(width, in_chans, 4, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def build_backbone(spec: dict[str, Any], size: int) -> RandomWideCNN | ClassifyBackbone:
    """Rebuild the backbone that ``spec`` (``bundle.json``'s ``backbone``) describes, untrained weights.

    Example:
        >>> spec = {"kind": "builtin", "name": "random_wide", "in_chans": 1, "widths": [8, 16, 32]}
        >>> type(build_backbone(spec, 32)).__name__
        'RandomWideCNN'
    """
    if spec["kind"] == "builtin":
        return RandomWideCNN(spec["in_chans"], tuple(spec["widths"]), spec.get("seed", 0))
    from sightkit.core.channels import apply_channel_recipe
    from sightkit.tasks.classify.model import create_model

    model = create_model(spec["name"], num_classes=spec["num_classes"], in_chans=spec["in_chans"])
    apply_channel_recipe(model, spec.get("channels", {}))
    return ClassifyBackbone(model.eval(), size)
