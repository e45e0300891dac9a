"""CIFAR-10 subset (5,000 real 32x32 photos): accuracy after a fixed CPU training budget.

Split: 20% test (stratified, seed 0); of the rest, 1/8 is validation (checkpoint choice,
temperature), so 3,500 train / 500 val / 1,000 test. Each model trains for at most
``--minutes`` minutes of wall time with a cosine schedule sized to end about then.

    python benchmarks/classify_cifar.py --minutes 10 --models skcnn_small:65 resnet18:60
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "cifar10_subset")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--models", nargs="+", default=["skcnn_small:65", "resnet18:60"],
                        help="NAME:EPOCHS (epochs sized so the cosine schedule ends near the time budget)")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} not found (needs ../shared/data)")

    from sightkit import Classifier

    runs = {}
    for spec in args.models:
        name, epochs = spec.split(":")
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            clf = Classifier.train(args.data, name, out=Path(tmp) / "run", epochs=int(epochs), max_minutes=args.minutes,
                                   test_fraction=0.2, val_fraction=0.1, augment="light", batch_size=64,
                                   progress=False, status=lambda m: None)
            report = clf.report or {}
            runs[name] = {
                "epochs_planned": int(epochs),
                "epochs_run": clf.meta["training"]["epochs_run"],
                "wall_s": round(time.perf_counter() - start, 1),
                "test_accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
                "ece": report["ece"], "ece_uncalibrated": report["ece_uncalibrated"],
                "n_test": report["n"], "splits": clf.meta["training"]["splits"],
            }
        print(name, runs[name], flush=True)
    write_result("classify_cifar", {"data": str(args.data), "budget_minutes": args.minutes, "goal_accuracy": 0.70,
                                    "runs": runs})


if __name__ == "__main__":
    main()
