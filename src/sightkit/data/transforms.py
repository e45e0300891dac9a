"""Image transforms: decode-time resizing and the augmentation presets (torchvision v2).

Images are decoded once to a square ``uint8`` tensor of the model's input size (shorter
side resized, centre crop). Augmentation then runs on those small tensors, which keeps the
data pipeline far faster than the model on a CPU.

Presets:
    * ``none``   - normalisation only;
    * ``light``  - random crop with reflect padding (1/8 of the side) and horizontal flip;
    * ``strong`` - ``light`` plus TrivialAugmentWide and random erasing.

Example:
    >>> train_tf = build_train_transform("light", mean=[0.5], std=[0.25])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from sightkit.errors import ConfigError

AUGMENT_PRESETS = ("none", "light", "strong")


def to_model_size(image: Image.Image, size: int) -> torch.Tensor:
    """Resize the shorter side of ``image`` to ``size`` (antialiased), centre-crop to a square, uint8 CHW."""
    tensor = F.pil_to_tensor(image)
    tensor = F.resize(tensor, [size], interpolation=v2.InterpolationMode.BILINEAR, antialias=True)
    return F.center_crop(tensor, [size, size])


def build_train_transform(preset: str, mean: Sequence[float], std: Sequence[float], *,
                          size: int, hflip: bool = True) -> v2.Compose:
    """Augmentation + normalisation for training, applied to a uint8 tensor of side ``size``."""
    if preset not in AUGMENT_PRESETS:
        raise ConfigError(f"--augment {preset!r}: choose one of {', '.join(AUGMENT_PRESETS)}")
    steps: list[v2.Transform] = []
    if preset in ("light", "strong"):
        steps.append(v2.RandomCrop(size, padding=max(1, size // 8), padding_mode="reflect"))
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
    if preset == "strong":
        steps.append(v2.TrivialAugmentWide())
    steps += _normalize(mean, std)
    if preset == "strong":
        steps.append(v2.RandomErasing(p=0.25))
    return v2.Compose(steps)


def build_eval_transform(mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """Normalisation only: the transform of evaluation and prediction."""
    return v2.Compose(_normalize(mean, std))


def _normalize(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
