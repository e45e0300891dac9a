"""Helpers of the deploy tests: a small colour dataset, a tiny classifier trained on it in ~1 s,
and bundle metadata like ``sightkit classify train`` writes.

Classes: ``red`` and ``green`` (noisy flat colours) and ``stripes`` (grey horizontal stripes),
16x16 RGB PNGs, in ``train/`` and ``val/`` class folders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sightkit.data.transforms import build_eval_transform, to_model_size
from sightkit.tasks.classify.model import create_model

CLASSES = ("green", "red", "stripes")
SIZE = 16
MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]


def _pixels(name: str, rng: np.random.Generator) -> np.ndarray:
    image = rng.integers(0, 60, size=(SIZE, SIZE, 3))
    if name == "red":
        image[..., 0] += 180
    elif name == "green":
        image[..., 1] += 180
    else:
        image[::2] += 180
    return np.clip(image, 0, 255).astype(np.uint8)


def write_colour_dataset(root: Path, per_class: int = 16, seed: int = 0) -> Path:
    """``root/{train,val}/<class>/<i>.png``: ``per_class`` training and ``per_class // 2`` validation images."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("val", per_class // 2)):
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                Image.fromarray(_pixels(name, rng)).save(folder / f"{name}_{i:03d}.png")
    return root


def train_tiny(data: Path, steps: int = 15) -> torch.nn.Module:
    torch.manual_seed(0)
    transform = build_eval_transform(MEAN, STD)
    paths = sorted((data / "train").rglob("*.png"))
    images = torch.stack([transform(to_model_size(Image.open(p).convert("RGB"), SIZE)) for p in paths])
    labels = torch.tensor([CLASSES.index(p.parent.name) for p in paths])
    model = create_model("skcnn_tiny", len(CLASSES), 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def bundle_meta(arch: str = "skcnn_tiny", size: int = SIZE, data: Path | None = None) -> dict:
    """Bundle metadata as ``sightkit classify train`` writes it, for the colour dataset."""
    return {
        "task": "classify",
        "architecture": {"name": arch, "in_chans": 3, "num_classes": len(CLASSES)},
        "classes": list(CLASSES),
        "preprocessing": {"size": size, "mode": "RGB", "channels": 3, "mean": MEAN, "std": STD},
        "calibration": {"temperature": 1.2},
        "training": {"config": {"model": arch, "batch_size": 16, "augment": "none", "val_fraction": 0.2,
                                "test_fraction": 0.0, "seed": 0, "device": "cpu", "workers": 0},
                     "data": str(data) if data else None},
    }
