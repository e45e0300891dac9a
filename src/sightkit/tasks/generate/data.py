"""Real images for synthesis: a folder (of class subfolders, or of images) or the built-in digits.

``DATA`` is one of:

* a folder with one subfolder per class (``data/cat/*.jpg``): labels for a conditional GAN;
  a folder with ``train/`` (``test/``, ``val/``) uses ``train/`` to train and ``test/``
  (else ``val/``) to evaluate, as ``sightkit classify`` does;
* a folder of images without subfolders: one class, for an unconditional GAN;
* ``digits`` / ``digits-test``: scikit-learn's handwritten digits (8x8 px, upscaled), the
  stratified 80% / 20% split with seed 0 that ``sightkit demo`` and ``export_digits`` write
  (a folder of that name in the working directory wins).

Every image is decoded once into memory at the model's side (shorter side resized, centre
crop), as uint8. Unreadable files are skipped and listed, never a crash.

Example:
    >>> real = read_real_images("digits", size=32)
    >>> real.images.shape, real.classes[:3], real.mode
    (torch.Size([1437, 1, 32, 32]), ['0', '1', '2'], 'L')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sightkit.core.images import is_grayscale, is_image_file, load_image
from sightkit.data.transforms import to_model_size
from sightkit.errors import DataError, ImageError

BUILTIN = {"digits": "train", "digits-test": "test"}  # name -> split of scikit-learn's digits
_DIGITS_TEST_FRACTION, _DIGITS_SEED = 0.2, 0  # the split of sightkit.data.samples.export_digits


@dataclass
class RealImages:
    """Decoded real images (uint8 NCHW at ``size``), their class indices and class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    mode: str
    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def as_float(self) -> torch.Tensor:
        """The images as floats in [-1, 1], the generator's range."""
        return self.images.float().div(127.5).sub(1.0)

    def pil(self, indices: torch.Tensor | list[int] | None = None) -> list[Image.Image]:
        """The images (all, or those at ``indices``) as PIL images of the data's mode."""
        chosen = self.images if indices is None else self.images[indices]
        return [tensor_to_pil(t) for t in chosen]


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """A uint8 CHW tensor (1 or 3 channels) -> a PIL ``L`` or ``RGB`` image."""
    array = image.cpu().numpy()
    return Image.fromarray(array[0], mode="L") if array.shape[0] == 1 else Image.fromarray(array.transpose(1, 2, 0))


def is_builtin(data: str | Path) -> bool:
    """Whether ``data`` names a built-in dataset (and no folder of that name exists)."""
    return str(data) in BUILTIN and not Path(data).exists()


def read_real_images(data: str | Path, size: int, *, split: str = "train", mode: str | None = None) -> RealImages:
    """Read ``data`` at ``size`` px; ``split`` ``train`` or ``eval`` picks the subfolder of a split dataset.

    ``mode`` (``L`` or ``RGB``) forces the colour mode; by default it is ``L`` when every image is grey.
    """
    if is_builtin(data):
        return _digits(str(data), size, mode)
    root = Path(data)
    if not root.is_dir():
        raise DataError(f"DATA {root}: not found; give a folder of class subfolders, a folder of images, "
                        f"or {' / '.join(BUILTIN)}")
    folder = _split_folder(root, split)
    pairs = _list_images(folder)
    if not pairs:
        raise DataError(f"DATA {folder}: no image files; put images in DATA/ or in DATA/<class>/")
    if mode is None:
        mode = "L" if all(_grey(p) for p, _ in pairs[:: max(1, len(pairs) // 200)]) else "RGB"
    classes = sorted({c for _, c in pairs})
    index = {c: i for i, c in enumerate(classes)}
    tensors, labels, skipped = [], [], []
    for path, name in pairs:
        try:
            tensors.append(to_model_size(load_image(path, mode), size))
            labels.append(index[name])
        except ImageError as exc:
            skipped.append((str(path), str(exc)))
    if not tensors:
        raise DataError(f"DATA {folder}: no image could be read (first: {skipped[0][1]})")
    empty = sorted(set(classes) - {classes[i] for i in labels})
    if empty:
        raise DataError(f"DATA {folder}: class '{empty[0]}' has no readable images; add images or remove the folder")
    return RealImages(torch.stack(tensors), torch.tensor(labels), classes, mode, str(folder), skipped)


def _split_folder(root: Path, split: str) -> Path:
    names = ("train",) if split == "train" else ("test", "val")
    return next((root / n for n in names if (root / n).is_dir()), root)


def _list_images(folder: Path) -> list[tuple[Path, str]]:
    """``(path, class)``: images of each class subfolder, or the folder's own images as class ``images``."""
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                        and p.name not in ("train", "val", "test"))
    if not subfolders:
        return [(p, "images") for p in _files(folder, recursive=False)]
    return [(p, sub.name) for sub in subfolders for p in _files(sub, recursive=True)]


def _files(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and is_image_file(p) and not p.name.startswith("."))


def _grey(path: Path) -> bool:
    try:
        return is_grayscale(path)
    except ImageError:
        return True  # unreadable: skipped later, no vote


def _digits(name: str, size: int, mode: str | None) -> RealImages:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_idx, test_idx = train_test_split(np.arange(len(digits.target)), test_size=_DIGITS_TEST_FRACTION,
                                           stratify=digits.target, random_state=_DIGITS_SEED)
    chosen = np.sort(train_idx if BUILTIN[name] == "train" else test_idx)
    mode = mode or "L"
    tensors = []
    for i in chosen:
        pixels = np.round(digits.images[i] * (255 / 16)).astype(np.uint8)
        image = Image.fromarray(pixels, mode="L").resize((size, size), Image.Resampling.BICUBIC).convert(mode)
        tensors.append(torch.from_numpy(np.asarray(image).copy()).reshape(size, size, -1).permute(2, 0, 1))
    labels = torch.from_numpy(digits.target[chosen].astype(np.int64))
    return RealImages(torch.stack(tensors).contiguous(), labels, [str(d) for d in range(10)], mode,
                      f"scikit-learn digits ({BUILTIN[name]} split)")
