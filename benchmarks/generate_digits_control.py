"""Control for generate_digits.py's few-label figure: the real-only classifier with as many steps.

On 142 labelled digits (113 after the validation carve-out) a batch of 64 gives one step per
epoch, so 30 epochs are 30 steps, while the run with 500 synthetic images takes ~300. This trains
the real-only classifier on the same subset for ``--epochs`` (default 300: about as many steps)
over the same seeds, so the synthetic images' effect is not confused with more optimisation.

    SIGHTKIT_THREADS=1 python benchmarks/generate_digits_control.py --epochs 300
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from _common import write_result
from generate_digits import few_label_subset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    from sightkit import Classifier
    from sightkit.data.samples import export_digits

    runs = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = export_digits(tmp / "digits", test_fraction=0.2, seed=0)
        subset = few_label_subset(data / "train", tmp / "few" / "train", args.fraction, seed=0)
        shutil.copytree(data / "test", subset.parent / "test")
        for seed in args.seeds:
            clf = Classifier.train(subset.parent, "skcnn_small", out=tmp / f"clf-{seed}", epochs=args.epochs,
                                   hflip=False, seed=seed, progress=False, status=lambda m: None)
            runs.append({"seed": seed, "real_only_test_accuracy": clf.report["accuracy"],
                         "epochs_run": clf.meta["training"]["epochs_run"]})
            print(runs[-1], flush=True)
    write_result("generate_digits_control", {
        "what": "real-only classifier on the 10% subset of generate_digits.py, trained for about as many steps "
                "as the run with synthetic images", "epochs": args.epochs, "runs": runs,
        "mean_test_accuracy": statistics.mean(r["real_only_test_accuracy"] for r in runs),
    })


if __name__ == "__main__":
    main()
