"""Label-issue detection: precision and recall on deliberately flipped labels.

digits: scikit-learn's 1,797 digits as ``sightkit demo`` writes them (train/test split, seed 0);
``--flip`` (5%) of the training images get a random wrong label (seed 0); every image is scored by
k-fold cross-validation and cleanlab. Precision = flagged images that were flipped / flagged;
recall = flipped images flagged / flipped. Goal: both >= 0.8.

cifar10: the same on ``../shared/data/cifar10_subset`` (``--per-class`` images per class).

Usage:
    python benchmarks/data_label_issues.py                          # digits
    python benchmarks/data_label_issues.py --dataset cifar10 --per-class 200 --epochs 15
    python benchmarks/data_label_issues.py --dataset cifar10 --model skcnn_small --per-class 500 --folds 3 --epochs 20
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import SHARED_DATA, write_result  # noqa: E402


def _digits_rows(work: Path) -> list[tuple[Path, str, str]]:
    from sightkit.data.samples import export_digits

    root = export_digits(work / "digits")
    return [(p, p.parent.name, split) for split in ("train", "test") for p in sorted((root / split).rglob("*.png"))]


def _cifar_rows(per_class: int, seed: int) -> list[tuple[Path, str, str]]:
    root = SHARED_DATA / "cifar10_subset"
    rng = np.random.default_rng(seed)
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.png")) + sorted(folder.glob("*.jpg"))
        chosen = rng.choice(len(files), size=min(per_class, len(files)), replace=False)
        rows += [(files[i], folder.name, "train") for i in sorted(chosen)]
    return rows


def flip_labels(rows: list[tuple[Path, str, str]], fraction: float, seed: int) -> tuple[list, set[Path]]:
    """Give ``fraction`` of the training rows a random other label; returns the rows and the flipped paths."""
    rng = np.random.default_rng(seed)
    classes = sorted({label for _, label, _ in rows})
    train = [i for i, (_, _, split) in enumerate(rows) if split == "train"]
    chosen = rng.choice(train, size=round(fraction * len(train)), replace=False)
    rows = list(rows)
    for i in chosen:
        path, label, split = rows[i]
        rows[i] = (path, str(rng.choice([c for c in classes if c != label])), split)
    return rows, {rows[i][0].resolve() for i in chosen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "cifar10"), default="digits")
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--model", default="skcnn_tiny")
    parser.add_argument("--per-class", type=int, default=200, help="cifar10: images per class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sightkit.core.threads import set_threads
    from sightkit.data.label_issues import find_label_issues

    set_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = _digits_rows(work) if args.dataset == "digits" else _cifar_rows(args.per_class, args.seed)
        rows, flipped = flip_labels(rows, args.flip, args.seed)
        manifest = work / "flipped.csv"
        with open(manifest, "w", newline="") as handle:
            csv.writer(handle).writerows((p.resolve(), label, split) for p, label, split in rows)
        clock = time.perf_counter()
        result = find_label_issues(manifest, model=args.model, folds=args.folds, epochs=args.epochs, seed=args.seed,
                                   hflip=args.dataset != "digits", status=lambda m: print(m, file=sys.stderr))
        seconds = time.perf_counter() - clock
    found = {Path(issue["path"]).resolve() for issue in result["issues"]}
    hits = len(found & flipped)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(flipped) if flipped else 0.0
    name = "data_label_issues" if args.dataset == "digits" else f"data_label_issues_cifar10_{args.model}"
    write_result(name, {
        "dataset": args.dataset, "images": result["n"], "flipped": len(flipped), "flagged": len(found),
        "true_positives": hits, "precision": round(precision, 4), "recall": round(recall, 4),
        "goal": "precision >= 0.8 and recall >= 0.8", "goal_met": precision >= 0.8 and recall >= 0.8,
        "out_of_sample_accuracy": result["out_of_sample_accuracy"], "model": args.model, "folds": result["folds"],
        "epochs": args.epochs, "flip_fraction": args.flip, "seed": args.seed, "seconds": round(seconds, 1),
        "per_class": args.per_class if args.dataset == "cifar10" else None,
    })


if __name__ == "__main__":
    main()
