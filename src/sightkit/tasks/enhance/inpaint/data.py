"""Training and validation data of inpainting: random crops of a folder's images, fixed validation holes.

Crops are taken from each image shrunk to a random size (its shorter side 1x to 3x the crop,
:attr:`InpaintConfig.scale_range`), so a crop holds whole objects and not only flat texture,
then flipped at random. Masks are not made here: the training step draws them (their hole
ratio follows the training progress); validation uses fixed, seeded masks in the 20-30%
bucket, so the validation number is comparable across epochs and runs.

Example:
    >>> crops = CropDataset([Image.new("RGB", (100, 80))], patch=32, length=4)
    >>> crops[0].shape
    torch.Size([3, 32, 32])
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from sightkit.tasks.enhance.inpaint.masks import bucket_mask
from sightkit.tasks.enhance.inpaint.model import MULTIPLE

VAL_BUCKET = (0.2, 0.3)
VAL_SIDE = 128  # validation images are centre crops of at most this side (after shrinking)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> float32 3xHxW in 0-1."""
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


class CropDataset(Dataset):
    """``length`` random ``patch`` crops (shrunk, flipped) of in-memory RGB images, seeded by index."""

    def __init__(self, images: list[Image.Image], patch: int, length: int, scale_range: tuple[float, float] = (1.0, 3.0),
                 seed: int = 0) -> None:
        self.images = [im.convert("RGB") for im in images]
        self.patch, self.length, self.scale_range, self.seed = patch, length, scale_range, seed
        self._calls = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        self._calls += 1  # a new crop every epoch for the same index
        rng = np.random.default_rng((self.seed, index, self._calls))
        image = self.images[int(rng.integers(len(self.images)))]
        short = min(image.size)
        target = min(short, round(self.patch * rng.uniform(*self.scale_range)))
        target = max(target, self.patch)
        factor = target / short
        size = (max(self.patch, round(image.width * factor)), max(self.patch, round(image.height * factor)))
        if size != image.size:
            image = image.resize(size, Image.Resampling.BICUBIC)
        left = int(rng.integers(0, image.width - self.patch + 1))
        top = int(rng.integers(0, image.height - self.patch + 1))
        crop = image.crop((left, top, left + self.patch, top + self.patch))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(crop)


class ValidationHoles(Dataset):
    """Each held-out image (shrunk and centre-cropped to at most :data:`VAL_SIDE`) with a fixed 20-30% mask."""

    def __init__(self, images: list[Image.Image], seed: int = 0) -> None:
        self.items = []
        for index, image in enumerate(images):
            image = image.convert("RGB")
            factor = min(1.0, VAL_SIDE / min(image.size))
            if factor < 1.0:
                image = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BICUBIC)
            side_w = min(image.width, VAL_SIDE) // MULTIPLE * MULTIPLE
            side_h = min(image.height, VAL_SIDE) // MULTIPLE * MULTIPLE
            left, top = (image.width - side_w) // 2, (image.height - side_h) // 2
            pixels = to_tensor(image.crop((left, top, left + side_w, top + side_h)))
            mask = torch.from_numpy(bucket_mask(side_h, side_w, VAL_BUCKET, seed=seed * 100_003 + index))[None]
            self.items.append((pixels, mask))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.items[index]
