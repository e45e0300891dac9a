"""A torch ``Dataset`` over labelled image files, decoded once into memory when it fits.

Decoding (file -> model-size uint8 tensor) is the slow part of a small-image pipeline, so
datasets up to ``cache_bytes`` are decoded once, up front, and augmented from memory.
Larger datasets decode on the fly in DataLoader workers. Either way, a file that fails to
decode is skipped and reported, never a crash.

Example:
    >>> ds = ImageDataset(splits.train, mode="RGB", size=32, transform=train_tf)  # doctest: +SKIP
    >>> image, label = ds[0]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

from sightkit.core.images import load_image
from sightkit.data.discover import Sample
from sightkit.data.transforms import to_model_size
from sightkit.errors import ImageError

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 2 * 1024**3


class ImageDataset(Dataset):
    """Labelled images as ``(float tensor, label)`` pairs at the model's input size."""

    def __init__(self, samples: Sequence[Sample], mode: str, size: int,
                 transform: Callable[[torch.Tensor], torch.Tensor], *,
                 cache_bytes: int = DEFAULT_CACHE_BYTES, progress: Callable[[int], None] | None = None) -> None:
        self.mode, self.size, self.transform = mode, size, transform
        self.skipped: list[tuple[str, str]] = []
        self.cached: torch.Tensor | None = None
        channels = 1 if mode == "L" else 3
        samples = list(samples)
        if len(samples) * channels * size * size <= cache_bytes:
            samples, self.cached = self._decode_all(samples, progress)
        self.samples = samples
        self.labels = torch.tensor([s.label for s in samples], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self.cached is not None:
            return self.transform(self.cached[index]), int(self.labels[index])
        for offset in range(len(self.samples)):
            sample = self.samples[(index + offset) % len(self.samples)]
            try:
                return self.transform(self.decode(sample)), sample.label
            except ImageError as exc:  # only reached for files that broke after discovery
                log.warning("skipping %s", exc)
        raise ImageError("no image of this dataset could be decoded")

    def decode(self, sample: Sample) -> torch.Tensor:
        """The uint8 CHW tensor of ``sample`` at the model's size."""
        return to_model_size(load_image(sample.path, self.mode), self.size)

    def _decode_all(self, samples: list[Sample],
                    progress: Callable[[int], None] | None) -> tuple[list[Sample], torch.Tensor]:
        kept, tensors = [], []
        for sample in samples:
            try:
                tensors.append(self.decode(sample))
                kept.append(sample)
            except ImageError as exc:
                self.skipped.append((str(sample.path), str(exc)))
            if progress is not None:
                progress(1)
        channels = 1 if self.mode == "L" else 3
        stacked = torch.stack(tensors) if tensors else torch.empty(0, channels, self.size, self.size, dtype=torch.uint8)
        return kept, stacked
