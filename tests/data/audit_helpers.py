"""A generated dataset with planted problems, for the audit's tests and benchmark.

``write_planted_dataset(root)`` writes ``root/{train,val,test}/{a,b,c}/`` with distinct smooth
random colour images (48 px) and plants: one exact duplicate, one near duplicate (resized and
re-encoded as JPEG), two unreadable files (truncated PNG, text named .jpg), an exact and a near
leak across splits, a blank image and a tiny image. It returns what an audit must find.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 48


def _smooth_image(rng: np.random.Generator) -> Image.Image:
    coarse = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return Image.fromarray(coarse, "RGB").resize((SIDE, SIDE), Image.BICUBIC)


def _near_copy(source: Path, target: Path) -> None:
    with Image.open(source) as img:
        img.convert("RGB").resize((40, 40), Image.BILINEAR).save(target, "JPEG", quality=85)


def write_planted_dataset(root: Path, per_class: int = 8, seed: int = 0) -> dict[str, set]:
    """Write the dataset and return the planted findings: sets of paths (or frozensets of paths for groups)."""
    rng = np.random.default_rng(seed)
    counts = {"train": per_class, "val": 2, "test": 2}
    for split, n in counts.items():
        for label in ("a", "b", "c"):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                _smooth_image(rng).save(folder / f"{label}{i}.png")
    train = root / "train"
    exact = train / "a" / "a0_copy.png"
    shutil.copyfile(train / "a" / "a0.png", exact)
    near = train / "b" / "b1_small.jpg"
    _near_copy(train / "b" / "b1.png", near)
    truncated = train / "c" / "truncated.png"
    buffer = io.BytesIO()
    _smooth_image(rng).save(buffer, "PNG")
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    not_image = train / "c" / "notes.jpg"
    not_image.write_text("not an image")
    exact_leak = root / "test" / "a" / "a2_leak.png"
    shutil.copyfile(train / "a" / "a2.png", exact_leak)
    near_leak = root / "val" / "c" / "c3_leak.jpg"
    _near_copy(train / "c" / "c3.png", near_leak)
    blank = train / "b" / "blank.png"
    Image.fromarray(np.full((SIDE, SIDE, 3), 128, np.uint8)).save(blank)
    tiny = train / "a" / "tiny.png"
    _smooth_image(rng).resize((6, 6)).save(tiny)
    return {
        "unreadable": {truncated, not_image},
        "exact_duplicates": {frozenset({train / "a" / "a0.png", exact}), frozenset({train / "a" / "a2.png", exact_leak})},
        "near_duplicates": {frozenset({train / "b" / "b1.png", near}), frozenset({train / "c" / "c3.png", near_leak})},
        "split_leaks": {frozenset({train / "a" / "a2.png", exact_leak}), frozenset({train / "c" / "c3.png", near_leak})},
        "blank": {blank},
        "tiny": {tiny},
    }


def found(report: dict, name: str) -> set:
    """The paths (or frozensets of paths, for groups) of one finding of an audit report."""
    items = report["findings"][name]
    return {frozenset(Path(p) for p in i["paths"]) if "paths" in i else Path(i["path"]) for i in items}
