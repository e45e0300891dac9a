"""Accuracy per CPU-minute of ``sightkit classify train DATA --max-minutes M``: today's defaults vs the budget recipe.

Each dataset trains under a wall-clock budget on real images and is scored on images the run
never saw (a 20% test split, seed 0; PneumoniaMNIST: its own val folder):

| name      | data                                 | default budget |
| digits    | scikit-learn digits (1,797 8x8 scans) | 1 min          |
| pneumonia | ../shared/data/pneumoniamnist         | 5 min          |
| plant     | ../shared/data/plantvillage_small     | 20 min         |
| cifar     | ../shared/data/cifar10_subset         | 10 min         |
| lfw       | ../shared/data/faces/lfw_subset (65 people; a tuning set, whole photos of faces) | 10 min |
| crops     | scikit-image's lfw_subset: 100 face and 100 non-face 25x25 grey crops, not in ../shared | 2 min |

Arms: ``before`` pins the defaults of sightkit before the budget recipe (30 epochs whatever the
budget, no EMA); ``default`` gives ``--max-minutes`` alone; ``NAME:key=value,key=value`` adds an
arm with those options (e.g. ``ema_off:ema=false``). Test accuracy is reported without and with
test-time augmentation (``--tta``).

    python benchmarks/classify_budget.py --datasets digits:1 cifar:10 --arms before default
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, write_result

DEFAULT_MINUTES = {"digits": 1.0, "pneumonia": 5.0, "plant": 20.0, "cifar": 10.0, "lfw": 10.0, "crops": 2.0}
OUTSIDE_SHARED = ("digits", "crops")
BEFORE = {"epochs": 30}  # what `classify train DATA --max-minutes M` did before the budget recipe


def parse_arm(spec: str) -> tuple[str, dict[str, Any]]:
    """``before`` / ``default`` / ``NAME:key=value,...`` -> (name, Classifier.train options)."""
    if spec == "before":
        return spec, dict(BEFORE)
    if spec == "default":
        return spec, {}
    name, _, pairs = spec.partition(":")
    options = {}
    for pair in filter(None, pairs.split(",")):
        key, _, value = pair.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return name, options


def dataset(name: str, tmp: Path) -> tuple[Path, Path | None, dict[str, Any]]:
    """(training data, separate test data or None, split options) of a benchmark dataset."""
    if name == "digits":
        from sightkit.data.samples import export_digits

        data = export_digits(tmp / "digits", test_fraction=0.2, seed=0)
        return data / "train", data / "test", {}
    if name == "crops":
        from classify_generalise import export_lfw_subset

        return export_lfw_subset(tmp / "crops"), None, {"test_fraction": 0.2}
    if name == "pneumonia":
        root = SHARED_DATA / "pneumoniamnist"
        return root / "train", root / "val", {}
    folder = {"plant": "plantvillage_small", "cifar": "cifar10_subset", "lfw": "faces/lfw_subset"}[name]
    return SHARED_DATA / folder, None, {"test_fraction": 0.2}


def run_arm(data_name: str, minutes: float, arm: str, options: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from sightkit import Classifier

    train_data, test_data, split = dataset(data_name, tmp)
    notes: list[str] = []
    start = time.perf_counter()
    clf = Classifier.train(train_data, out=tmp / f"{data_name}-{arm}", max_minutes=minutes, progress=False,
                           status=notes.append, **split, **options)
    train_s = time.perf_counter() - start
    held_out = test_data if test_data is not None else train_data  # its recorded test split
    # PneumoniaMNIST's val folder repeats 5 of its training images (same pixels); they are scored, as in its recipe
    plain = clf.evaluate(held_out, allow_train_images=True)
    tta = clf.evaluate(held_out, tta=True, allow_train_images=True)
    training = clf.meta["training"]
    result = {
        "options": options, "minutes": minutes, "train_and_eval_s": round(train_s, 1),
        "epochs_run": training["epochs_run"], "config": {k: training["config"][k] for k in
                                                         ("model", "epochs", "batch_size", "img_size", "augment",
                                                          "lr", "ema")},
        "img_size": clf.meta["preprocessing"]["size"], "plan": training.get("plan"),
        "best_val_accuracy": training.get("best_val_acc"),
        "n_test": plain["n"], "test_accuracy": plain["accuracy"], "test_accuracy_tta": tta["accuracy"],
        "balanced_accuracy": plain.get("balanced_accuracy"), "balanced_accuracy_tta": tta.get("balanced_accuracy"),
        "messages": notes,
    }
    for key in ("auroc",):
        if key in plain.get("medical", {}):
            result[key], result[f"{key}_tta"] = plain["medical"][key], tta["medical"][key]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["digits", "pneumonia", "plant", "cifar"],
                        help="NAME or NAME:MINUTES (names: " + ", ".join(DEFAULT_MINUTES) + ")")
    parser.add_argument("--arms", nargs="+", default=["before", "default"])
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    args = parser.parse_args()

    from sightkit import Classifier  # noqa: F401  (thread set-up before torch work)

    results: dict[str, Any] = {}
    for spec in args.datasets:
        name, _, minutes = spec.partition(":")
        budget = float(minutes) if minutes else DEFAULT_MINUTES[name]
        if name not in OUTSIDE_SHARED and not SHARED_DATA.is_dir():
            raise SystemExit(f"{SHARED_DATA} not found (needs ../shared/data)")
        for arm_spec in args.arms:
            arm, options = parse_arm(arm_spec)
            with tempfile.TemporaryDirectory() as tmp:
                outcome = run_arm(name, budget, arm, options, Path(tmp))
            results.setdefault(f"{name}@{budget:g}min", {})[arm] = outcome
            shown = {k: outcome[k] for k in ("train_and_eval_s", "epochs_run", "img_size", "best_val_accuracy",
                                               "test_accuracy",
                                               "test_accuracy_tta", "balanced_accuracy")}
            print(name, budget, arm, shown, flush=True)
            write_result("classify_budget" + (f"_{args.tag}" if args.tag else ""), {"results": results})


if __name__ == "__main__":
    main()
