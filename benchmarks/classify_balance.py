"""``classify train --balance`` on imbalanced data: balanced accuracy and per-class recall, with and without.

PneumoniaMNIST (``../shared/data/pneumoniamnist``): ``--normal`` normal and ``--pneumonia`` pneumonia
training images drawn at random (seed 0; default 1:10), scored on the whole val split (135 normal,
389 pneumonia). Per training seed, the same model and epochs are trained twice: plain
cross-entropy, and with class-balanced loss weights; the JSON has each run and the means.

Usage:
    python benchmarks/classify_balance.py --normal 100 --pneumonia 1000 --epochs 10 --seeds 0 1 2
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


def _manifest(path: Path, normal: int, pneumonia: int, seed: int) -> None:
    root = SHARED_DATA / "pneumoniamnist"
    rng = np.random.default_rng(seed)
    rows = []
    for label, n in (("normal", normal), ("pneumonia", pneumonia)):
        files = sorted((root / "train" / label).glob("*.png"))
        rows += [(files[i], label, "train") for i in sorted(rng.choice(len(files), size=n, replace=False))]
        rows += [(f, label, "test") for f in sorted((root / "val" / label).glob("*.png"))]
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows((p.resolve(), label, split) for p, label, split in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal", type=int, default=100)
    parser.add_argument("--pneumonia", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--model", default="skcnn_tiny")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (the subset: seed 0)")
    args = parser.parse_args()

    from sightkit.core.threads import set_threads
    from sightkit.tasks.classify.api import Classifier

    set_threads(1)
    runs: dict[str, list[dict]] = {"plain": [], "balance": []}
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "subset.csv"
        _manifest(manifest, args.normal, args.pneumonia, seed=0)
        for seed in args.seeds:
            for name, balance in (("plain", False), ("balance", True)):
                clock = time.perf_counter()
                clf = Classifier.train(manifest, args.model, out=Path(tmp) / f"{name}{seed}", epochs=args.epochs,
                                       seed=seed, hflip=False, balance=balance, progress=False,
                                       status=lambda m: print(m, file=sys.stderr))
                report = clf.report or {}
                runs[name].append({"seed": seed, "accuracy": round(report["accuracy"], 4),
                                   "balanced_accuracy": round(report["balanced_accuracy"], 4),
                                   "recall": {c: round(v["recall"], 4) for c, v in report["per_class"].items()},
                                   "seconds": round(time.perf_counter() - clock, 1)})

    def mean(name: str, key: str, cls: str | None = None) -> float:
        values = [r["recall"][cls] if cls else r[key] for r in runs[name]]
        return round(float(np.mean(values)), 4)

    summary = {name: {"balanced_accuracy": mean(name, "balanced_accuracy"), "accuracy": mean(name, "accuracy"),
                      "recall_normal": mean(name, "", "normal"), "recall_pneumonia": mean(name, "", "pneumonia")}
               for name in runs}
    write_result("classify_balance", {
        "dataset": "pneumoniamnist", "train": {"normal": args.normal, "pneumonia": args.pneumonia},
        "scored_on": "val split (135 normal, 389 pneumonia)", "model": args.model, "epochs": args.epochs,
        "seeds": args.seeds, "mean": summary, "runs": runs,
        "balanced_accuracy_gain": round(summary["balance"]["balanced_accuracy"] - summary["plain"]["balanced_accuracy"],
                                        4),
    })


if __name__ == "__main__":
    main()
