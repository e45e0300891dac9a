"""Training data of super-resolution: HR folders, an in-memory patch pyramid, aligned LR/HR crops.

Every HR image is decoded once. For bicubic degradation each image is also stored at a few
smaller sizes (``PYRAMID``, FSRCNN's scale augmentation) together with its pre-computed
LR version, so a training sample is just two aligned crops plus a random flip / 90-degree
rotation: no resizing in the training loop. "Real" degradation is applied per crop.

Example:
    >>> images, skipped = read_hr_folder("data/T91")  # doctest: +SKIP
    >>> ds = PatchDataset(images, scale=4, patch=96, channels=1, length=1000)  # doctest: +SKIP
    >>> lr, hr = ds[0]; lr.shape, hr.shape  # doctest: +SKIP
    (torch.Size([1, 24, 24]), torch.Size([1, 96, 96]))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from sightkit.core.images import is_image_file, load_image
from sightkit.errors import DataError, ImageError
from sightkit.tasks.enhance.color import luma
from sightkit.tasks.enhance.degrade import bicubic_downscale, mod_crop, real_degrade

# Extra sizes of each training image (FSRCNN's data augmentation): more scales of texture.
PYRAMID = (1.0, 0.9, 0.8, 0.7, 0.6)


def list_hr_images(folder: str | Path, label: str = "HR_FOLDER") -> list[Path]:
    """Image files under ``folder`` (recursively, hidden files skipped), sorted by path.

    ``label`` names the argument in error messages.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{label} {root}: not a folder of images")
    files = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p)
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise DataError(f"{label} {root}: no image files found")
    return files


def read_hr_folder(folder: str | Path, min_side: int = 8,
                   label: str = "HR_FOLDER") -> tuple[list[tuple[Path, Image.Image]], list[tuple[Path, str]]]:
    """Decode every image of ``folder`` as RGB; return ``(path, image)`` pairs and skipped files."""
    images, skipped = [], []
    for path in list_hr_images(folder, label):
        try:
            images.append((path, load_image(path, "RGB", min_side=min_side)))
        except ImageError as exc:
            skipped.append((path, str(exc)))
    if not images:  # each reason names its file
        raise DataError(f"{label} {folder}: none of its {len(skipped)} images can be used "
                        f"(first: {skipped[0][1]})")
    return images, skipped


def to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """uint8 HxWx3 RGB -> float32 CxHxW in 0-1: full-range Y for 1 channel, RGB for 3."""
    if channels == 1:
        return luma(pixels)[None]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32) / 255.0


class PatchDataset(Dataset):
    """Random aligned ``(lr, hr)`` crops (``patch`` HR px square) of an image list, ``length`` per epoch.

    Images are drawn in proportion to their area, so every region is equally likely. ``stream``
    picks one of several independent random streams of the same ``seed`` (each DDP process
    draws its own crops; stream 0 is the one a single process always drew).
    """

    def __init__(self, images: list[Image.Image], scale: int, patch: int, channels: int = 1, length: int = 1000,
                 degradation: str = "bicubic", seed: int = 0, stream: int = 0) -> None:
        if patch % scale:
            raise DataError(f"--patch {patch} must be a multiple of --scale {scale}")
        self.scale, self.patch, self.channels, self.length = scale, patch, channels, length
        self.degradation = degradation
        self._rng = np.random.default_rng(seed if stream == 0 else (seed, stream))
        self._hr: list[np.ndarray] = []
        self._lr: list[np.ndarray] = []
        for image in images:
            for factor in PYRAMID:
                size = (round(image.width * factor), round(image.height * factor))
                if min(size) < patch:
                    continue
                hr = mod_crop(image if factor == 1.0 else image.resize(size, Image.Resampling.BICUBIC), scale)
                self._hr.append(np.asarray(hr))
                self._lr.append(np.asarray(bicubic_downscale(hr, scale)) if degradation == "bicubic" else None)
        if not self._hr:
            raise DataError(f"no training image is at least {patch} px on each side; lower --patch")
        areas = np.array([h.shape[0] * h.shape[1] for h in self._hr], dtype=np.float64)
        self._weights = areas / areas.sum()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng, s, p = self._rng, self.scale, self.patch // self.scale
        k = int(rng.choice(len(self._hr), p=self._weights))
        hr_full = self._hr[k]
        y = int(rng.integers(0, hr_full.shape[0] // s - p + 1))
        x = int(rng.integers(0, hr_full.shape[1] // s - p + 1))
        hr = hr_full[y * s:(y + p) * s, x * s:(x + p) * s]
        if self.degradation == "bicubic":
            lr = self._lr[k][y:y + p, x:x + p]
        else:
            lr = np.asarray(real_degrade(Image.fromarray(hr), s, rng))
        flip, turns = bool(rng.integers(2)), int(rng.integers(4))
        lr, hr = (_augment(a, flip, turns) for a in (lr, hr))
        return torch.from_numpy(to_channels(lr, self.channels)), torch.from_numpy(to_channels(hr, self.channels))


class ValidationImages(Dataset):
    """Whole ``(lr, hr)`` image pairs with bicubic degradation, for per-epoch PSNR (batch size 1)."""

    def __init__(self, images: list[Image.Image], scale: int, channels: int = 1) -> None:
        self.pairs = []
        for image in images:
            hr = mod_crop(image, scale)
            lr = bicubic_downscale(hr, scale)
            self.pairs.append((to_channels(np.asarray(lr), channels), to_channels(np.asarray(hr), channels)))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.pairs[index]
        return torch.from_numpy(lr), torch.from_numpy(hr)


def _augment(pixels: np.ndarray, flip: bool, turns: int) -> np.ndarray:
    """Horizontal flip then ``turns`` 90-degree rotations (the 8 symmetries of a square)."""
    if flip:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(np.rot90(pixels, turns))
