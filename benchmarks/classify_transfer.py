"""Transfer and few-shot: a few labelled images per class, from scratch vs from a model trained on other classes.

Pretraining: skcnn_small on CIFAR-10 subset classes 0-4 (airplane, automobile, bird, cat, deer;
500 each, 10% validation), 20 epochs. Target tasks: CIFAR-10 classes 5-9 (dog, frog, horse, ship,
truck) and, with ``--plantvillage``, the 5 PlantVillage classes. For each K labelled images per
class (drawn with the seed; 20% of them validate the training runs), the test set is every other
image of those classes. Four ways to use the K images:

* ``scratch``: ``classify train`` from random weights;
* ``finetune``: ``--init PRETRAIN`` (backbone learning rate x0.1, new head);
* ``freeze``: ``--init PRETRAIN --freeze-backbone`` (head alone);
* ``fewshot``: ``--init PRETRAIN --few-shot`` (prototypes of all K images, no training).

The pretrained bundle is reused from ``--workdir`` when it is there (its training is recorded);
``--reuse`` takes the rows of earlier result files instead of running them again (to merge
seeds run as separate processes).

    python benchmarks/classify_transfer.py --shots 5 10 20 --seeds 0 --plantvillage 0
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from pathlib import Path

from _common import RESULTS, SHARED_DATA, write_result

PRETRAIN_CLASSES = ("airplane", "automobile", "bird", "cat", "deer")
TARGET_CLASSES = ("dog", "frog", "horse", "ship", "truck")
METHODS = ("scratch", "finetune", "freeze", "fewshot")
TRAIN = {"epochs": 30, "batch_size": 16, "val_fraction": 0.2, "augment": "light", "workers": 0}


def pretrain(workdir: Path, cifar: Path, epochs: int) -> tuple[Path, dict]:
    """The skcnn_small bundle of classes 0-4 (trained unless ``workdir/pretrain/model`` exists)."""
    from sightkit import Classifier

    bundle = workdir / "pretrain" / "model"
    if not bundle.is_dir():
        data = workdir / "cifar_0_4"
        data.mkdir(parents=True, exist_ok=True)
        for name in PRETRAIN_CLASSES:
            link = data / name
            if not link.exists():
                link.symlink_to((cifar / name).resolve())
        Classifier.train(data, "skcnn_small", out=workdir / "pretrain", epochs=epochs, max_minutes=10,
                         val_fraction=0.1, seed=0, progress=False, status=lambda m: None)
    meta = json.loads((bundle / "bundle.json").read_text())
    training = meta["training"]
    return bundle, {"bundle": str(bundle), "classes": meta["classes"], "epochs_run": training["epochs_run"],
                    "duration_s": training["duration_s"], "best_val_acc": training.get("best_val_acc"),
                    "splits": training["splits"]}


def manifest(root: Path, classes: tuple[str, ...], shots: int, seed: int, out: Path) -> dict[str, int]:
    """A CSV of ``shots`` seeded training images per class and every other image as test."""
    rng = random.Random(seed)
    rows, counts = [], {"train": 0, "test": 0}
    for name in classes:
        files = sorted(p for p in (root / name).iterdir() if p.is_file())
        chosen = set(rng.sample(range(len(files)), shots))
        for i, path in enumerate(files):
            split = "train" if i in chosen else "test"
            rows.append([str(path.resolve()), name, split])
            counts[split] += 1
    with out.open("w", newline="") as handle:
        csv.writer(handle).writerows([["path", "label", "split"], *rows])
    return counts


def run_method(method: str, data: Path, init: Path, seed: int, out: Path, img_size: int) -> dict:
    """Train (or build) one classifier on ``data``; its test accuracy and time."""
    from sightkit import Classifier

    options = {"init": str(init)} if method != "scratch" else {"model": "skcnn_small", "img_size": img_size}
    if method == "fewshot":
        options["few_shot"] = True
    else:
        options.update(TRAIN, seed=seed)
    if method == "freeze":
        options["freeze_backbone"] = True
    model = options.pop("model", None)
    start = time.perf_counter()
    clf = Classifier.train(data, model, out=out, progress=False, status=lambda m: None, **options)
    report = clf.report or {}
    return {"test_accuracy": round(report["accuracy"], 4), "macro_f1": round(report["macro_f1"], 4),
            "n_test": report["n"], "wall_s": round(time.perf_counter() - start, 1),
            "epochs_run": clf.meta["training"]["epochs_run"]}


def run_task(name: str, root: Path, classes: tuple[str, ...], shots: list[int], seeds: list[int], init: Path,
             img_size: int, tmp: Path, done: dict[tuple, dict]) -> list[dict]:
    rows = []
    for k in shots:
        for seed in seeds:
            data = tmp / f"{name}-{k}-{seed}.csv"
            counts = manifest(root, classes, k, seed, data)
            for method in METHODS:
                if (name, k, seed, method) in done:
                    rows.append(done[(name, k, seed, method)])
                    continue
                result = run_method(method, data, init, seed, tmp / f"{name}-{k}-{seed}-{method}", img_size)
                rows.append({"task": name, "shots": k, "seed": seed, "method": method, **counts, **result})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    """Mean test accuracy per task, shots and method over the seeds run, and the seeds' values."""
    table: dict = {}
    for row in rows:
        cell = table.setdefault(row["task"], {}).setdefault(str(row["shots"]), {}).setdefault(row["method"], [])
        cell.append(row["test_accuracy"])
    return {task: {k: {m: {"mean": round(sum(v) / len(v), 4), "seeds": v} for m, v in methods.items()}
                   for k, methods in by_k.items()} for task, by_k in table.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar", type=Path, default=SHARED_DATA / "cifar10_subset")
    parser.add_argument("--plantvillage", type=int, nargs="*", metavar="SEED",
                        help="also the PlantVillage task (5 and 10 shots) with these seeds")
    parser.add_argument("--name", default="classify_transfer", help="results/NAME.json")
    parser.add_argument("--reuse", type=Path, nargs="*", default=[], help="earlier result files whose rows to reuse")
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0], help="CIFAR seeds (none: skip CIFAR)")
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "runs" / "classify_transfer")
    args = parser.parse_args()
    if not args.cifar.is_dir():
        raise SystemExit(f"{args.cifar} not found (needs ../shared/data)")

    earlier = {str(path): json.loads(path.read_text()) for path in args.reuse}
    done = {(r["task"], r["shots"], r["seed"], r["method"]): {"reused_from": path, **r}
            for path, result in earlier.items() for r in result["runs"]}
    clock = time.process_time()
    init, pretrained = pretrain(args.workdir, args.cifar, args.pretrain_epochs)
    with tempfile.TemporaryDirectory(dir=RESULTS.parent / "runs") as tmp:
        rows = run_task("cifar10_5-9", args.cifar, TARGET_CLASSES, args.shots, args.seeds, init, 32, Path(tmp), done)
        if args.plantvillage is not None:
            plants = SHARED_DATA / "plantvillage_small"
            classes = tuple(sorted(p.name for p in plants.iterdir() if p.is_dir()))
            rows += run_task("plantvillage", plants, classes, [k for k in args.shots if k <= 10],
                             args.plantvillage or [0], init, 32, Path(tmp), done)
    write_result(args.name, {
        "pretrain": pretrained, "target_classes": {"cifar10_5-9": TARGET_CLASSES}, "training": TRAIN,
        "methods": {"scratch": "skcnn_small from random weights", "finetune": "--init (backbone lr x0.1)",
                    "freeze": "--init --freeze-backbone", "fewshot": "--init --few-shot (prototypes)"},
        "cpu_seconds": round(time.process_time() - clock, 1),
        "cpu_seconds_of_reused_files": {path: result.get("cpu_seconds") for path, result in earlier.items()},
        "mean_test_accuracy": summary(rows), "runs": rows})


if __name__ == "__main__":
    main()
