"""Feature networks for the perceptual loss of GAN training, all usable offline.

* ``"random"`` (the default): a small VGG-style conv net with *fixed random* weights (seed 0,
  never trained, never saved). Pretrained VGG weights cannot be downloaded on offline
  machines, and random conv features still respond to local structure and texture (He,
  Wang & Hopcroft 2016; Ustyuzhaninov et al. 2017), which is what this loss compares.
* a **local VGG19 weight file** (torchvision's ``vgg19`` state dict, ``.pth`` or
  ``.safetensors``, whole model or ``features`` only): ESRGAN's loss on ``conv5_4`` (before
  ReLU), or any ``convN_M`` layer, on ImageNet-normalised input.

Example:
    >>> net = build_feature_net("random", channels=1)
    >>> [f.shape[1] for f in net(torch.rand(1, 1, 32, 32))]
    [16, 32]
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sightkit.errors import ModelError

_RANDOM_SEED = 0
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# torchvision vgg19 "features" index of each conv layer: block sizes 2, 2, 4, 4, 4 with a pool after each.
_VGG19_BLOCKS = (2, 2, 4, 4, 4)


class RandomFeatures(nn.Module):
    """Two VGG-style blocks (16 and 32 channels) with fixed random weights; returns both outputs."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(_RANDOM_SEED)
        self.block1 = nn.Sequential(nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
        self.block2 = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(32, 32, 3, padding=1))
        for conv in (m for m in self.modules() if isinstance(m, nn.Conv2d)):
            fan_in = conv.in_channels * 9
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                conv.bias.zero_()
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        first = self.block1(x)
        return [first, self.block2(first)]


class VggFeatures(nn.Module):
    """torchvision VGG19 ``features`` up to ``layer`` (before its ReLU), from a local weight file."""

    def __init__(self, weights: str | Path, layer: str = "conv5_4", channels: int = 3) -> None:
        super().__init__()
        from torchvision.models import vgg19

        index = vgg19_layer_index(layer)
        self.features = vgg19(weights=None).features[: index + 1]
        self.features.load_state_dict(_read_vgg_state(Path(weights), index + 1))
        self.channels = channels
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.channels == 1:
            x = x.expand(-1, 3, -1, -1)
        return [self.features((x - self.mean) / self.std)]


def vgg19_layer_index(layer: str) -> int:
    """Index in ``vgg19().features`` of ``convB_C`` (e.g. ``conv5_4`` -> 34)."""
    try:
        block, conv = (int(part) for part in layer.removeprefix("conv").split("_"))
        if not (1 <= block <= 5 and 1 <= conv <= _VGG19_BLOCKS[block - 1]):
            raise ValueError
    except ValueError:
        raise ModelError(f"--feature-layer {layer!r}: use convB_C with a VGG19 conv, e.g. conv5_4") from None
    start = sum(2 * n + 1 for n in _VGG19_BLOCKS[: block - 1])
    return start + 2 * (conv - 1)


def check_feature_net(spec: str, layer: str = "conv5_4") -> None:
    """Raise :class:`ModelError` unless ``spec`` is ``"random"`` or an existing file and ``layer`` a VGG19 conv.

    Cheap (nothing is loaded), so training can check it before reading data or running stage 1.

    Example:
        >>> check_feature_net("random")
    """
    if spec == "random":
        return
    if not Path(spec).is_file():
        raise ModelError(f"--feature-net {spec!r}: use 'random' or the path of a local VGG19 weight file")
    vgg19_layer_index(layer)


def build_feature_net(spec: str, layer: str = "conv5_4", channels: int = 1) -> nn.Module:
    """``"random"`` or the path of a local VGG19 weight file -> a frozen feature network."""
    check_feature_net(spec, layer)
    if spec == "random":
        return RandomFeatures(channels)
    return VggFeatures(spec, layer, channels)


def _read_vgg_state(path: Path, n_layers: int) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for a file that is not a state dict
            raise ModelError(f"--feature-net {path}: not a readable weight file ({exc})") from None
    state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
    wanted = {k: v for k, v in state.items() if int(k.split(".")[0]) < n_layers}
    if not wanted:
        raise ModelError(f"--feature-net {path}: no VGG19 'features' weights found")
    return wanted
