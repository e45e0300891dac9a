"""The images of an anomaly task: folders of files in, uint8 tensors at the model's size out.

Example:
    >>> paths, skipped = list_images("cameras/normal")          # doctest: +SKIP
    >>> batch = load_batch(paths[:8], mode="RGB", size=64)        # doctest: +SKIP
    >>> batch.shape, batch.dtype                                  # doctest: +SKIP
    (torch.Size([8, 3, 64, 64]), torch.uint8)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from sightkit.core.images import ImageSource, is_grayscale, is_image_file, load_image
from sightkit.data.transforms import to_model_size
from sightkit.errors import DataError, ImageError

# Enough held-out images that the 95% quantile of their scores is not just their maximum.
MIN_IMAGES = 10


def list_images(folder: str | Path, role: str = "NORMAL_FOLDER") -> tuple[list[Path], list[dict[str, str]]]:
    """The readable image files under ``folder`` (recursive, sorted) and the skipped ones with why.

    Raises :class:`DataError` when ``folder`` is missing, not a folder or holds no readable image.

    Example:
        >>> list_images("cameras/normal")[0][:2]  # doctest: +SKIP
        [PosixPath('cameras/normal/0001.jpg'), PosixPath('cameras/normal/0002.jpg')]
    """
    root = Path(folder)
    if not root.exists():
        raise DataError(f"{role} {root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{role} {root}: not a folder (give a folder of images)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))
    good, skipped = [], []
    for path in files:
        try:
            is_grayscale(path)  # reads the header: refuses files that are not images
            good.append(path)
        except ImageError as exc:
            skipped.append({"path": str(path), "reason": str(exc)})
    if not good:
        found = f" ({len(skipped)} unreadable)" if skipped else ""
        raise DataError(f"{role} {root}: no readable image files found{found}")
    return good, skipped


def image_mode(paths: Sequence[Path]) -> str:
    """``"L"`` when the (first 200) images are all grayscale, else ``"RGB"``.

    Example:
        >>> image_mode([Path("digit.png")])  # doctest: +SKIP
        'L'
    """
    return "L" if all(is_grayscale(p) for p in paths[:200]) else "RGB"


def load_batch(sources: Sequence[ImageSource], mode: str, size: int) -> torch.Tensor:
    """Decode ``sources`` with the safe loader to a uint8 ``(N, C, size, size)`` tensor.

    Example:
        >>> load_batch(["a.png"], "L", 32).shape  # doctest: +SKIP
        torch.Size([1, 1, 32, 32])
    """
    return torch.stack([to_model_size(load_image(s, mode), size) for s in sources])


def split_holdout(paths: Sequence[Path], fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """A seeded ``(train, held_out)`` split of the normal images; both parts get at least
    :data:`MIN_IMAGES` // 2 images, else :class:`DataError`.

    Example:
        >>> train, held = split_holdout([Path(f"{i}.png") for i in range(100)], 0.2, seed=0)
        >>> len(train), len(held)
        (80, 20)
    """
    if len(paths) < MIN_IMAGES:
        raise DataError(f"NORMAL_FOLDER: {len(paths)} readable images; anomaly training needs at least "
                        f"{MIN_IMAGES} (some fit the model, the rest its threshold)")
    order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(seed)).tolist()
    n_held = min(len(paths) - MIN_IMAGES // 2, max(MIN_IMAGES // 2, round(len(paths) * fraction)))
    held = sorted(paths[i] for i in order[:n_held])
    train = sorted(paths[i] for i in order[n_held:])
    return train, held
