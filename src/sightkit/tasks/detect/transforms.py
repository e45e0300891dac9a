"""Images and boxes as model inputs, and augmentation that moves the boxes with the pixels.

Training augmentation (torchvision ``transforms.v2`` on ``tv_tensors``): horizontal flip,
scale jitter with translation (an affine zoom of ``scale_range``, which crops when zooming
in and pads when zooming out), colour jitter; boxes are transformed with the image, clipped,
and dropped when less than 2 px remain. Ignored boxes (difficult, crowd, ignore regions) are
not trained on and are removed before augmentation.

Images are shrunk once so the longer side is at most ``image_size`` (the size the model
works at) and kept in memory up to :data:`CACHE_BYTES`.

Example:
    >>> dataset = DetectionDataset(samples, image_size=128, train=True)  # doctest: +SKIP
    >>> image, target = dataset[0]  # doctest: +SKIP
    >>> image.shape, target["boxes"].shape  # doctest: +SKIP
    (torch.Size([3, 128, 128]), torch.Size([3, 4]))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from sightkit.core.images import load_image
from sightkit.tasks.detect.dataset import Sample

CACHE_BYTES = 1 << 30  # shrunk training images kept decoded in memory, up to 1 GiB
MIN_BOX_SIDE = 2.0  # px; augmented boxes smaller than this are dropped


def train_augmentation(scale_range: tuple[float, float] = (0.75, 1.25), color: float = 0.3) -> Any:
    """The v2 pipeline that augments an image (``tv_tensors.Image``) and its ``BoundingBoxes`` together.

    Example:
        >>> from torchvision import tv_tensors
        >>> aug = train_augmentation()
        >>> boxes = tv_tensors.BoundingBoxes([[10, 10, 30, 30]], format="XYXY", canvas_size=(64, 64))
        >>> out = aug(tv_tensors.Image(torch.rand(3, 64, 64)), {"boxes": boxes, "labels": torch.tensor([1])})
        >>> out[1]["boxes"].shape[1]
        4
    """
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomHorizontalFlip(0.5),
        v2.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=scale_range),
        v2.ColorJitter(brightness=color, contrast=color, saturation=color, hue=min(0.5, color / 6)),
        v2.ClampBoundingBoxes(),
        v2.SanitizeBoundingBoxes(min_size=MIN_BOX_SIDE),
    ])


def shrink(image: Image.Image, image_size: int) -> tuple[Image.Image, float]:
    """``image`` shrunk so its longer side is at most ``image_size``, and the factor applied.

    Example:
        >>> shrink(Image.new("RGB", (1920, 1080)), 640)[0].size
        (640, 360)
    """
    factor = min(1.0, image_size / max(image.size))
    if factor == 1.0:
        return image, 1.0
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), factor


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> float32 3xHxW in 0-1."""
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


class DetectionDataset(Dataset):
    """Samples as ``(image 3xHxW 0-1, {"boxes", "labels" 1..C})`` at the model's size, augmented when ``train``.

    Without ``train`` the targets keep the ignored boxes, flagged in ``iscrowd`` (label 0 for an
    ignore region of no class), as :func:`~sightkit.tasks.detect.metrics.metric_target` expects.
    """

    def __init__(self, samples: list[Sample], image_size: int, train: bool = False,
                 scale_range: tuple[float, float] = (0.75, 1.25), color: float = 0.3) -> None:
        self.samples, self.image_size, self.train = samples, image_size, train
        self.augment = train_augmentation(scale_range, color) if train else None
        self._cache: dict[int, tuple[torch.Tensor, float]] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        sample = self.samples[index]
        pixels, factor = self._image(index)
        if self.augment is None:  # every box, ignored ones flagged by ``iscrowd`` (for mAP)
            return pixels.float() / 255.0, {"boxes": torch.from_numpy(sample.boxes * factor),
                                            "labels": torch.from_numpy(sample.labels + 1),
                                            "iscrowd": torch.from_numpy(sample.ignore.astype(np.int64))}
        keep = ~sample.ignore
        boxes = torch.from_numpy(sample.boxes[keep] * factor)
        labels = torch.from_numpy(sample.labels[keep] + 1)
        from torchvision import tv_tensors

        image = tv_tensors.Image(pixels)
        wrapped = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=tuple(pixels.shape[1:]))
        image, target = self.augment(image, {"boxes": wrapped, "labels": labels})
        return image.as_subclass(torch.Tensor).float() / 255.0, {
            "boxes": target["boxes"].as_subclass(torch.Tensor).float().reshape(-1, 4), "labels": target["labels"]}

    def _image(self, index: int) -> tuple[torch.Tensor, float]:
        if index in self._cache:
            return self._cache[index]
        image, factor = shrink(load_image(self.samples[index].image, "RGB"), self.image_size)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()
        if self._cached_bytes + pixels.numel() <= CACHE_BYTES:
            self._cache[index] = (pixels, factor)
            self._cached_bytes += pixels.numel()
        return pixels, factor


def collate(batch: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> tuple[list, list]:
    """Detection batches are lists: images differ in size and in their number of boxes."""
    return [image for image, _ in batch], [target for _, target in batch]
