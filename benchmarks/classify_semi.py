"""Semi-supervised training (FixMatch, ``--unlabeled``) on scikit-learn digits with 10% of the labels.

Split (all seed 0, stratified): 20% of the 1,797 digits are the test split (as in
classify_digits.py); 20% of the rest is a validation split shared by every run (checkpoint
choice and temperature; nothing is tuned on test); of the remaining 1,150 training images,
10% keep their labels and the other 90% are given, without labels, as ``--unlabeled``.

Three runs, test accuracy of each:
    * supervised on the 10% labelled images;
    * supervised on 100% of the training labels;
    * FixMatch on the 10% labelled + the 90% unlabelled images.
Each is trained with several seeds (the split stays fixed); the means are compared.
Goal: FixMatch closes >= 50% of the gap between the two supervised runs.

    python benchmarks/classify_semi.py --seeds 0 1 2 --jobs 4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from _common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="skcnn_small")
    parser.add_argument("--labelled-fraction", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="every run (FixMatch's threshold is 0.95)")
    parser.add_argument("--epochs-few", type=int, default=200, help="supervised on the labelled 10%%")
    parser.add_argument("--epochs-all", type=int, default=30, help="supervised on 100%% of the labels")
    parser.add_argument("--epochs-fixmatch", type=int, default=150, help="passes over the unlabelled images")
    parser.add_argument("--unlabeled-ratio", type=int, default=7)
    parser.add_argument("--unlabeled-conf", type=float, default=0.95)
    parser.add_argument("--lambda-u", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (the split is fixed)")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run at once, in separate processes")
    args = parser.parse_args()

    common = {"model": args.model, "batch_size": args.batch_size, "label_smoothing": args.label_smoothing,
              "hflip": False}
    with tempfile.TemporaryDirectory() as tmp:
        few, full, unlabeled = _write_digits(Path(tmp), args.labelled_fraction)
        fixmatch = {"epochs": args.epochs_fixmatch, "unlabeled": str(unlabeled),
                    "unlabeled_ratio": args.unlabeled_ratio, "unlabeled_conf": args.unlabeled_conf,
                    "lambda_u": args.lambda_u}
        plan = [(name, data, {**common, **options, "seed": seed}, Path(tmp) / f"{name}-seed{seed}")
                for name, data, options in (("fixmatch_few_plus_unlabeled", few, fixmatch),
                                            ("supervised_few", few, {"epochs": args.epochs_few}),
                                            ("supervised_all", full, {"epochs": args.epochs_all}))
                for seed in args.seeds]  # the long FixMatch runs start first
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(_train, *zip(*plan)))
    runs: dict[str, list[dict[str, Any]]] = {}
    for (name, *_), result in zip(plan, results):
        runs.setdefault(name, []).append(result)
    mean = {name: statistics.mean(r["test_accuracy"] for r in rs) for name, rs in runs.items()}
    mean_val = {name: statistics.mean(r["best_val_acc"] for r in rs) for name, rs in runs.items()}
    few_acc, all_acc, semi_acc = (mean[k] for k in ("supervised_few", "supervised_all", "fixmatch_few_plus_unlabeled"))
    gap_closed = (semi_acc - few_acc) / (all_acc - few_acc) if all_acc > few_acc else None
    write_result("classify_semi", {
        "dataset": "scikit-learn digits (8x8), test 20% / val 20% of the rest / train, stratified, seed 0",
        "model": args.model, "labelled_fraction": args.labelled_fraction, "batch_size": args.batch_size,
        "label_smoothing": args.label_smoothing, "seeds": args.seeds,
        "mean_test_accuracy": {k: round(v, 4) for k, v in mean.items()},
        "mean_best_val_acc": {k: round(v, 4) for k, v in mean_val.items()},
        "gap_closed": None if gap_closed is None else round(gap_closed, 3),
        "cpu_s_total": round(sum(r["cpu_s"] for rs in runs.values() for r in rs), 1),
        "target": {"gap_closed": 0.5}, "meets_target": gap_closed is not None and gap_closed >= 0.5,
        "runs": runs,
    })


def _train(name: str, data: Path, options: dict[str, Any], out: Path) -> dict[str, Any]:
    """One training run (in a worker process): test and best val accuracy, CPU seconds, mask rates."""
    from sightkit import Classifier

    wall, cpu = time.perf_counter(), time.process_time()
    clf = Classifier.train(data, out=out, progress=False, status=lambda message: None, **options)
    training = clf.meta["training"]
    result = {"seed": options["seed"], "test_accuracy": clf.report["accuracy"],
              "best_val_acc": training["best_val_acc"], "n_test": clf.report["n"],
              "train_images_labelled": training["splits"]["train"], "val_images": training["splits"]["val"],
              "epochs": options["epochs"], "wall_s": round(time.perf_counter() - wall, 1),
              "cpu_s": round(time.process_time() - cpu, 1)}
    if "unlabeled" in training:
        result["unlabeled_images"] = training["unlabeled"]["images"]
        result["mask_rate_by_epoch"] = [round(h["mask_rate"], 3) for h in training["history"] if "mask_rate" in h]
    print(name, {k: v for k, v in result.items() if k != "mask_rate_by_epoch"}, flush=True)
    return result


def _write_digits(root: Path, labelled_fraction: float) -> tuple[Path, Path, Path]:
    """``few/`` and ``full/`` (train/ val/ test/ per class) and a flat ``unlabeled/`` folder of PNGs."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    labels = digits.target
    rest, test = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0)
    train, val = train_test_split(rest, test_size=0.2, stratify=labels[rest], random_state=0)
    unlabelled, labelled = train_test_split(train, test_size=labelled_fraction, stratify=labels[train], random_state=0)
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)

    def write(indices: np.ndarray, folder: Path, per_class: bool = True) -> None:
        for i in indices:
            path = folder / str(labels[i]) / f"{i:04d}.png" if per_class else folder / f"{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[i], mode="L").save(path)

    for name, train_part in (("few", labelled), ("full", train)):
        write(train_part, root / name / "train")
        write(val, root / name / "val")
        write(test, root / name / "test")
    write(unlabelled, root / "unlabeled", per_class=False)
    return root / "few", root / "full", root / "unlabeled"


if __name__ == "__main__":
    main()
