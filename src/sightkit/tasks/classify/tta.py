"""Test-time augmentation: score each image as the mean logits of a few flipped and shifted views.

The views are the image, and shifted by ``s = max(1, side // 16)`` pixels towards the top-left and
the bottom-right (reflect padding), each also mirrored when the model was trained with flips:
6 views (3 without flips), as the fast CIFAR recipes do at test time.

Example:
    >>> views = tta_views(torch.zeros(2, 3, 32, 32), flip=True)
    >>> len(views), views[0].shape
    (6, torch.Size([2, 3, 32, 32]))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def shift_pixels(side: int) -> int:
    """The shift of the shifted views: 1/16 of the side, at least one pixel.

    Example:
        >>> shift_pixels(32), shift_pixels(8)
        (2, 1)
    """
    return max(1, side // 16)


def tta_views(batch: torch.Tensor, flip: bool) -> list[torch.Tensor]:
    """The views of a preprocessed batch ``(N, C, H, W)``: identity first, then the shifted ones,
    then (with ``flip``) the mirror image of each."""
    s = shift_pixels(min(batch.shape[-2:]))
    height, width = batch.shape[-2:]
    padded = F.pad(batch, (s, s, s, s), mode="reflect") if min(height, width) > s else \
        F.pad(batch, (s, s, s, s), mode="replicate")
    views = [batch, padded[..., :height, :width], padded[..., 2 * s:, 2 * s:]]
    if flip:
        views += [view.flip(-1) for view in views]
    return views
