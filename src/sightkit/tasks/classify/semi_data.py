"""The unlabelled images of semi-supervised training (``--unlabeled FOLDER``) and their two views.

FixMatch sees every unlabelled image twice per step: a *weak* view (the ``light`` preset:
random crop with reflect padding, optional flip) whose confident predictions become
pseudo-labels, and a *strong* view (the same, then RandAugment with a random magnitude per
image and a cutout square) that is trained to agree with them.

The folder is read recursively through the one image loader; unreadable files are skipped
and reported. A folder that looks like labelled data (subfolders named after the classes of
DATA, split folders, or DATA itself) is refused: the user must say which is meant.

Example:
    >>> unlabeled = load_unlabeled("photos/unsorted", splits, "RGB", 64, mean, std)  # doctest: +SKIP
    >>> loader = with_unlabeled(train_loader, unlabeled, ratio=7)                    # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from sightkit.core.images import is_image_file
from sightkit.data.dataset import ImageDataset
from sightkit.data.discover import SPLIT_NAMES, DatasetSplits, Sample
from sightkit.data.transforms import build_train_transform
from sightkit.errors import DataError

# FixMatch (Sohn et al. 2020, "FixMatch: Simplifying Semi-Supervised Learning with Consistency
# and Confidence"): two RandAugment operations per image, then a cutout square of up to half the side.
STRONG_OPS = 2
CUTOUT_AREA = (0.02, 0.25)
CUTOUT_GREY = 127
NO_LABEL = -1


@dataclass
class UnlabeledData:
    """The unlabelled images of a run: their folder, the two-view dataset and the skipped files."""

    folder: Path
    dataset: ImageDataset
    skipped: list[tuple[str, str]]

    def summary(self) -> dict[str, Any]:
        """What the bundle records: the folder, images used and files skipped.

        Example:
            >>> unlabeled.summary()  # doctest: +SKIP
            {'folder': '/data/unsorted', 'images': 1035, 'skipped': 0}
        """
        return {"folder": str(self.folder), "images": len(self.dataset), "skipped": len(self.skipped)}


class RandomMagnitudeRandAugment(v2.RandAugment):
    """RandAugment whose magnitude is drawn anew for every image, as FixMatch's strong view does."""

    def forward(self, *inputs: Any) -> Any:
        self.magnitude = int(torch.randint(1, self.num_magnitude_bins, ()).item())
        return super().forward(*inputs)


class TwoViews:
    """``uint8 image -> (2, C, H, W)``: the weak view stacked on the strong one."""

    def __init__(self, weak: Callable[[torch.Tensor], torch.Tensor],
                 strong: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.weak, self.strong = weak, strong

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.weak(image), self.strong(image)])


def strong_transform(mean: Sequence[float], std: Sequence[float], *, size: int, hflip: bool) -> v2.Compose:
    """FixMatch's strong augmentation of a uint8 image: light crop/flip, RandAugment, cutout, normalisation.

    Example:
        >>> tf = strong_transform([0.5], [0.25], size=8, hflip=False)
        >>> tf(torch.zeros(1, 8, 8, dtype=torch.uint8)).shape
        torch.Size([1, 8, 8])
    """
    light = build_train_transform("light", mean, std, size=size, hflip=hflip)
    geometry, normalise = light.transforms[:-2], light.transforms[-2:]
    return v2.Compose([*geometry, RandomMagnitudeRandAugment(num_ops=STRONG_OPS),
                       v2.RandomErasing(p=1.0, scale=CUTOUT_AREA, ratio=(1.0, 1.0), value=CUTOUT_GREY), *normalise])


def find_unlabeled_images(folder: str | Path, splits: DatasetSplits) -> list[Path]:
    """Every image file under ``folder`` (recursively, hidden files left out), sorted.

    Raises :class:`~sightkit.errors.DataError` when the folder is missing or holds no image, and
    when it looks like labelled data: DATA itself, a folder inside DATA or holding it, or one
    with subfolders named after DATA's classes or splits.

    Example:
        >>> find_unlabeled_images("photos/unsorted", splits)[:1]  # doctest: +SKIP
        [PosixPath('photos/unsorted/2024/img_0001.jpg')]
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"--unlabeled {root}: {'not a folder' if root.exists() else 'not found'}; give a folder "
                        "of images without labels")
    data = splits.source.resolve()
    data = data if data.is_dir() else data.parent
    if root.resolve() == data or root.resolve().is_relative_to(data) or data.is_relative_to(root.resolve()):
        raise DataError(f"--unlabeled {root}: overlaps the labelled DATA {splits.source}; give a separate folder of "
                        "unlabelled images")
    subfolders = {p.name for p in root.iterdir() if p.is_dir()}
    labelled = sorted(subfolders & (set(splits.classes) | set(SPLIT_NAMES)))
    if labelled:
        raise DataError(f"--unlabeled {root}: its subfolders {', '.join(labelled)} look like labelled data (classes or "
                        "splits of DATA). Is it labelled? Then add those images to DATA; if not, rename or flatten "
                        "those subfolders so their names are not taken for labels")
    images = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p)
                    and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not images:
        raise DataError(f"--unlabeled {root}: no image files found (searched its subfolders too)")
    return images


def load_unlabeled(folder: str | Path, splits: DatasetSplits, mode: str, size: int, mean: Sequence[float],
                   std: Sequence[float], *, hflip: bool = True) -> UnlabeledData:
    """Decode the unlabelled images (in memory when they fit) into a dataset of weak/strong view pairs.

    Example:
        >>> unlabeled = load_unlabeled("unsorted", splits, "L", 8, [0.5], [0.25], hflip=False)  # doctest: +SKIP
        >>> views, _ = unlabeled.dataset[0]; views.shape                                       # doctest: +SKIP
        torch.Size([2, 1, 8, 8])
    """
    paths = find_unlabeled_images(folder, splits)
    views = TwoViews(build_train_transform("light", mean, std, size=size, hflip=hflip),
                     strong_transform(mean, std, size=size, hflip=hflip))
    dataset = ImageDataset([Sample(p, NO_LABEL) for p in paths], mode, size, views)
    if len(dataset) == 0:
        raise DataError(f"--unlabeled {folder}: none of its {len(paths)} image files could be decoded, e.g. "
                        f"{dataset.skipped[0][1]}")
    return UnlabeledData(Path(folder).resolve(), dataset, dataset.skipped)


def with_unlabeled(train_loader: DataLoader, unlabeled: UnlabeledData, ratio: int,
                   workers: int | None = None) -> Any:
    """Labelled batches of ``B`` paired with unlabelled batches of ``ratio * B``: a ``CombinedLoader``.

    Each batch is ``{"labeled": (images, labels), "unlabeled": (views, _)}``. An epoch is one
    pass over the unlabelled images; the labelled loader starts again (reshuffled) as often as
    needed (Lightning's ``max_size_cycle``).

    Example:
        >>> loader = with_unlabeled(train_loader, unlabeled, ratio=7)  # doctest: +SKIP
        >>> batch = next(iter(loader))[0]; batch["unlabeled"][0].shape  # doctest: +SKIP
        torch.Size([448, 2, 1, 8, 8])
    """
    from lightning.pytorch.utilities import CombinedLoader

    dataset = unlabeled.dataset
    if workers is None:
        workers = 0 if dataset.cached is not None else min(4, os.cpu_count() or 1)
    batch_size = ratio * train_loader.batch_size
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=len(dataset) > batch_size,
                        num_workers=workers, persistent_workers=workers > 0, pin_memory=train_loader.pin_memory)
    return CombinedLoader({"labeled": train_loader, "unlabeled": loader}, mode="max_size_cycle")
