"""Real sample datasets that ship with sightkit's dependencies, written as image folders.

Example:
    >>> export_digits("digits")  # doctest: +SKIP
    PosixPath('digits')
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def export_digits(out_dir: str | Path, test_fraction: float = 0.2, seed: int = 0) -> Path:
    """Write scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels) as PNGs.

    Layout ``out_dir/{train,test}/<digit>/<index>.png`` with a stratified split, so it is
    ready for ``sightkit classify train``. Existing files are left as they are.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    indices = np.arange(len(digits.target))
    train_idx, test_idx = train_test_split(indices, test_size=test_fraction, stratify=digits.target,
                                           random_state=seed)
    out = Path(out_dir)
    for split, chosen in (("train", train_idx), ("test", test_idx)):
        for i in chosen:
            path = out / split / str(digits.target[i]) / f"{i:04d}.png"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                pixels = np.round(digits.images[i] * (255 / 16)).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(path)
    return out
