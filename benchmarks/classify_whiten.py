"""Does a patch-whitening first layer (the fast CIFAR recipes' stem) help the built-in CNN on a CPU?

The fast GPU recipes (airbench and its forebears) replace the first convolution by a frozen 2x2
convolution whose filters whiten the images' 2x2 patches (the eigenvectors of their covariance,
scaled by 1/sqrt(eigenvalue), with their negatives: 2 x 4 x channels filters), then a ReLU.
Here ``skcnn_small``'s stem convolution is replaced that way and trained with the same options
as the plain model; both score the validation split of the run (the tuning split, never test).

The whitening statistics come from up to 2,000 images of the training split (pixels only).

    python benchmarks/classify_whiten.py --datasets cifar:40 lfw:60
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from _common import SHARED_DATA, write_result

FOLDERS = {"cifar": "cifar10_subset", "lfw": "faces/lfw_subset", "plant": "plantvillage_small"}


def whitening_filters(images: torch.Tensor, eps: float = 5e-4) -> torch.Tensor:
    """``(2 * 4C, C, 2, 2)`` filters that whiten the 2x2 patches of normalised ``images`` ``(N, C, H, W)``."""
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1)  # N, C, H-1, W-1, 2, 2
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, images.shape[1] * 4).double()
    covariance = torch.cov(patches.T)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).float()
    filters = filters.reshape(-1, images.shape[1], 2, 2)
    return torch.cat([filters, -filters])


def whitened(model: nn.Module, filters: torch.Tensor) -> nn.Module:
    """``model`` (an SkCNN) with its stem convolution replaced by the frozen whitening layer and a ReLU."""
    stem = nn.Conv2d(filters.shape[1], filters.shape[0], 2, bias=True)
    stem.weight.data.copy_(filters)
    stem.weight.requires_grad_(False)
    nn.init.zeros_(stem.bias)
    first_stage = model.features[1][0]  # the first stage's convolution reads the stem's channels
    model.features[0] = nn.Sequential(stem, nn.ReLU(inplace=True))
    model.features[1][0] = nn.Conv2d(filters.shape[0], first_stage.out_channels, 3, padding=1, bias=False)
    return model


def training_images(data: Path, split: dict[str, Any], size: int, channels: int, limit: int = 2000) -> torch.Tensor:
    """Normalised training-split images (as the run decodes them) for the whitening statistics."""
    from sightkit.data.discover import discover
    from sightkit.data.transforms import to_model_size
    from sightkit.core.images import load_image
    from sightkit.tasks.classify.model import default_normalization

    splits = discover(data, split.get("val_fraction", 0.2), split.get("test_fraction", 0.0), seed=0)
    mean, std = default_normalization("skcnn_small", channels)
    mode = "L" if channels == 1 else "RGB"
    picked = splits.train[:: max(1, len(splits.train) // limit)][:limit]
    tensors = torch.stack([to_model_size(load_image(s.path, mode), size) for s in picked]).float() / 255
    return (tensors - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def run_arm(name: str, epochs: int, arm: str, tmp: Path) -> dict[str, Any]:
    import sightkit.tasks.classify.train as train_module
    from sightkit import Classifier

    data, split = SHARED_DATA / FOLDERS[name], {"test_fraction": 0.2}
    create = train_module.create_model
    if arm == "whiten":
        filters = whitening_filters(training_images(data, split, 64 if name != "cifar" else 32, 3))
        train_module.create_model = lambda *args, **kwargs: whitened(create(*args, **kwargs), filters)
    start = time.perf_counter()
    try:
        clf = Classifier.train(data, out=tmp / arm, epochs=epochs, progress=False, **split)
    finally:
        train_module.create_model = create
    training = clf.meta["training"]
    return {"epochs": epochs, "train_s": round(time.perf_counter() - start, 1),
            "best_val_accuracy": training.get("best_val_acc")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["cifar:40", "lfw:60"], help="NAME:EPOCHS")
    parser.add_argument("--arms", nargs="+", default=["plain", "whiten"], choices=["plain", "whiten"])
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    from sightkit import Classifier  # noqa: F401  (thread set-up before torch work)

    results: dict[str, Any] = {}
    for spec in args.datasets:
        name, _, epochs = spec.partition(":")
        for arm in args.arms:
            with tempfile.TemporaryDirectory() as tmp:
                results.setdefault(spec, {})[arm] = run_arm(name, int(epochs), arm, Path(tmp))
            print(spec, arm, json.dumps(results[spec][arm]), flush=True)
            write_result("classify_whiten" + (f"_{args.tag}" if args.tag else ""), {"results": results})


if __name__ == "__main__":
    main()
