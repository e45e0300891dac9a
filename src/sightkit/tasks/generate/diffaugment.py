"""DiffAugment: differentiable augmentations of every image the discriminator sees.

Zhao et al. 2020 ("Differentiable Augmentation for Data-Efficient GAN Training"): with a few
thousand images the discriminator memorises the training set and its feedback to the generator
degrades. Augmenting *both* real and generated images with the same family of random,
differentiable transformations, in the discriminator's steps and in the generator's, keeps
the discriminator from memorising without teaching the generator to draw augmented images
(the generator's gradient flows back through the transformation). Each image of a batch draws
its own transformation; real and fake batches draw from the same distribution.

Operations (tensors NCHW in [-1, 1]):

* ``translation``: shift by up to 1/8 of the side in each direction, zero (mid-grey) fill;
* ``cutout``: zero one square of half the side at a random place (it may hang over an edge);
* ``color``: random brightness (+-0.5), saturation (x0..2, RGB only) and contrast (x0.5..1.5).

Example:
    >>> images = torch.zeros(4, 1, 32, 32, requires_grad=True)
    >>> diff_augment(images, parse_policy("translation,cutout")).shape
    torch.Size([4, 1, 32, 32])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

TRANSLATION_RATIO = 0.125  # the paper's settings
CUTOUT_RATIO = 0.5


def translation(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by a random whole number of pixels (up to 1/8 of its side); zeros fill the gap.

    Example:
        >>> translation(torch.ones(2, 3, 16, 16)).shape
        torch.Size([2, 3, 16, 16])
    """
    n, _, height, width = images.shape
    shift_y, shift_x = round(height * TRANSLATION_RATIO), round(width * TRANSLATION_RATIO)
    dy = torch.randint(-shift_y, shift_y + 1, (n, 1, 1), generator=generator).to(images.device)
    dx = torch.randint(-shift_x, shift_x + 1, (n, 1, 1), generator=generator).to(images.device)
    rows = torch.arange(height, device=images.device)[None, :, None] + dy + shift_y
    cols = torch.arange(width, device=images.device)[None, None, :] + dx + shift_x
    padded = F.pad(images, [shift_x, shift_x, shift_y, shift_y])
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # advanced indexing puts channels last


def cutout(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one square of half the image's side per image, centred anywhere in the image.

    Example:
        >>> float(cutout(torch.ones(1, 1, 8, 8)).mean())
        0.75
    """
    n, _, height, width = images.shape
    cut_h, cut_w = round(height * CUTOUT_RATIO), round(width * CUTOUT_RATIO)
    top = torch.randint(0, height, (n, 1, 1), generator=generator).to(images.device) - cut_h // 2
    left = torch.randint(0, width, (n, 1, 1), generator=generator).to(images.device) - cut_w // 2
    rows = torch.arange(height, device=images.device)[None, :, None]
    cols = torch.arange(width, device=images.device)[None, None, :]
    inside = (rows >= top) & (rows < top + cut_h) & (cols >= left) & (cols < left + cut_w)
    return images * (~inside).unsqueeze(1).to(images.dtype)


def color(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness, saturation (RGB only) and contrast per image.

    Example:
        >>> color(torch.zeros(2, 3, 4, 4)).shape
        torch.Size([2, 3, 4, 4])
    """
    n = len(images)

    def uniform(low: float, high: float) -> torch.Tensor:
        draw = torch.rand(n, 1, 1, 1, generator=generator).to(device=images.device, dtype=images.dtype)
        return low + (high - low) * draw

    images = images + uniform(-0.5, 0.5)
    if images.shape[1] == 3:
        mean = images.mean(dim=1, keepdim=True)
        images = (images - mean) * uniform(0.0, 2.0) + mean
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * uniform(0.5, 1.5) + mean


OPERATIONS: dict[str, Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]] = {
    "color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    """Operation names of a comma-separated policy, in the paper's order (color, translation, cutout).

    ``""`` or ``"none"`` is no augmentation. Unknown names raise ``ValueError``.

    Example:
        >>> parse_policy("cutout,translation"), parse_policy("none")
        (('translation', 'cutout'), ())
    """
    names = {name.strip().lower() for name in policy.split(",") if name.strip()} - {"none"}
    unknown = sorted(names - set(OPERATIONS))
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(OPERATIONS)} or none")
    return tuple(name for name in OPERATIONS if name in names)


def diff_augment(images: torch.Tensor, operations: tuple[str, ...],
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply ``operations`` (from :func:`parse_policy`) to a batch; differentiable in ``images``.

    Example:
        >>> x = torch.zeros(2, 1, 8, 8, requires_grad=True)
        >>> diff_augment(x, ("translation", "cutout")).sum().backward()
        >>> x.grad.shape
        torch.Size([2, 1, 8, 8])
    """
    for name in operations:
        images = OPERATIONS[name](images, generator)
    return images
