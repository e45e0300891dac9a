"""Active learning curve on the CIFAR-10 subset: test accuracy at 250 / 500 / 1,000 labels, active vs random.

``../shared/data/cifar10_subset`` (5,000 photos, 32x32): a fixed stratified test split of 1,000
images (seed 0) and a pool of the other 4,000. Per seed: 100 random pool images start labelled;
each round trains a classifier on the labelled images (the same recipe for every arm and round:
``--model`` at the data's size, about ``--steps`` optimiser steps whatever the label count but at
least ``--min-epochs`` epochs, no validation carve-out), scores the test split, and then ``sightkit.data.active.suggest`` with
each arm's strategy picks the next images up to the next budget. Both arms share the first
model (100 labels; each arm trains it again, with the same seed). Goal: active >= random at every budget (mean of the seeds).

Usage:
    python benchmarks/data_active.py                                  # hybrid vs random, 3 seeds
    python benchmarks/data_active.py --arms random hybrid:10 hybrid:3 margin --seeds 0 --name data_active_explore
    python benchmarks/data_active.py --arms random hybrid:10 badge --min-epochs 30 --name data_active_30ep

An arm is a ``suggest`` strategy, ``hybrid:F`` for hybrid with F x n uncertain candidates. Each
(seed, arm) curve runs in its own process (``--jobs`` at once); ``cpu_s`` counts them all.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import SHARED_DATA, write_result  # noqa: E402

TEST_PER_CLASS = 100


def split_data(root: Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """``(pool, test)``: :data:`TEST_PER_CLASS` images per class (seed 0) held out, the rest the pool."""
    rng = np.random.default_rng(0)
    pool, test = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.png")) + sorted(folder.glob("*.jpg"))
        held = set(rng.choice(len(files), size=TEST_PER_CLASS, replace=False).tolist())
        for i, path in enumerate(files):
            (test if i in held else pool).append((path, folder.name))
    return pool, test


def train_round(labelled: list[tuple[Path, str]], test: list[tuple[Path, str]], work: Path, args, seed: int):
    """Train on ``labelled`` (test rows ride along in the manifest, so the report scores them)."""
    from sightkit import Classifier

    work.mkdir(parents=True, exist_ok=True)
    manifest = work / "manifest.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([[str(p), label, "train"] for p, label in labelled])
        writer.writerows([[str(p), label, "test"] for p, label in test])
    epochs = max(args.min_epochs, round(args.steps * args.batch_size / len(labelled)))
    clf = Classifier.train(manifest, args.model, out=work / "run", epochs=epochs, batch_size=args.batch_size,
                           val_fraction=0.0, augment="light", seed=seed, device="cpu", progress=False,
                           status=lambda m: None)
    return clf, float(clf.report["accuracy"]), epochs


def run_arm(seed: int, arm: str, pool: list[tuple[Path, str]], test: list[tuple[Path, str]], args,
            work: Path) -> dict[str, float]:
    """One arm's curve for one seed: ``{labels: test accuracy}`` from the shared seeded start."""
    from sightkit.data.active import suggest
    from sightkit.data.selection import CANDIDATE_FACTOR

    label_of = {p: label for p, label in pool}
    rng = np.random.default_rng(1000 + seed)
    start = [pool[i] for i in rng.choice(len(pool), size=args.start, replace=False)]
    clf, first_acc, _ = train_round(start, test, work / f"s{seed}-{arm}-start", args, seed)
    print(f"seed {seed} {arm}: {args.start} labels -> {first_acc:.4f}", flush=True)
    labelled, curve = list(start), {str(args.start): round(first_acc, 4)}
    for budget in args.budgets:
        taken = {p for p, _ in labelled}
        remaining = [p for p, _ in pool if p not in taken]
        strategy, _, factor = arm.partition(":")
        result = suggest(clf, remaining, budget - len(labelled), strategy=strategy, labeled=sorted(taken),
                         seed=seed * 100 + budget, candidate_factor=int(factor or CANDIDATE_FACTOR))
        labelled += [(Path(s["path"]), label_of[Path(s["path"])]) for s in result["suggestions"]]
        clf, acc, epochs = train_round(labelled, test, work / f"s{seed}-{arm}-{budget}", args, seed)
        curve[str(budget)] = round(acc, 4)
        print(f"seed {seed} {arm}: {budget} labels ({epochs} epochs) -> {acc:.4f}", flush=True)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "cifar10_subset")
    parser.add_argument("--arms", nargs="+", default=["hybrid", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--budgets", nargs="+", type=int, default=[250, 500, 1000])
    parser.add_argument("--model", default="skcnn_tiny")
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per training (epochs derived)")
    parser.add_argument("--min-epochs", type=int, default=1,
                        help="at least this many epochs per training (the steps then grow with the labels)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=6, help="(seed, arm) curves run at once, one process each")
    parser.add_argument("--name", default="data_active")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} not found (needs ../shared/data)")

    import torch

    pool, test = split_data(args.data)
    started, cpu_started = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(seed, arm, pool, test, args, Path(tmp)) for seed in args.seeds for arm in args.arms]
        context = multiprocessing.get_context("spawn")  # workers that may start data-loader processes
        with ProcessPoolExecutor(min(args.jobs, len(jobs)), mp_context=context) as workers:
            curves = list(workers.map(run_arm, *zip(*jobs)))
    per_seed = {str(seed): {} for seed in args.seeds}
    for (seed, arm, *_), curve in zip(jobs, curves):
        per_seed[str(seed)][arm] = curve
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    points = [str(args.start), *map(str, args.budgets)]
    mean = {arm: {b: round(float(np.mean([per_seed[s][arm][b] for s in per_seed])), 4) for b in points}
            for arm in args.arms}
    active = [a for a in args.arms if a != "random"]
    goal = ({arm: all(mean[arm][b] >= mean["random"][b] for b in points[1:]) for arm in active}
            if "random" in args.arms else None)
    write_result(args.name, {
        "data": str(args.data), "pool": len(pool), "test": len(test), "start_labels": args.start,
        "budgets": args.budgets, "seeds": args.seeds, "model": args.model, "steps_per_training": args.steps, "min_epochs": args.min_epochs,
        "batch_size": args.batch_size, "torch_threads": torch.get_num_threads(),
        "goal": "active >= random at every budget (mean of seeds)", "goal_met": goal,
        "mean_test_accuracy": mean, "per_seed": per_seed,
        "wall_s": round(time.perf_counter() - started, 1), "cpu_s": round(time.process_time() - cpu_started + children.ru_utime + children.ru_stime, 1),
    })


if __name__ == "__main__":
    main()
