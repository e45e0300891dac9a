"""Speed on a shared machine: sightkit idle, then beside 1 and 2 other PyTorch jobs, in one run.

Workloads (each in its own process, ``_contention_worker.py``; only the work is timed):

- ``train``: 2 epochs of ``skcnn_small`` on 3,000 28-px grey images (PneumoniaMNIST's first
  3,000 training X-rays, or scikit-learn's digits upscaled when ../shared is missing);
- ``predict-1``: ``Classifier.predict`` on one image file at a time;
- ``predict-batch``: ``Classifier.predict`` on 256 files at a time (decode, batch, forward);
- ``face-identify``: ``FaceGallery.identify`` of att_faces photos against 10 enrolled people
  (skipped without ../shared).

Competitors are plain PyTorch training loops with PyTorch's default threads (a small CNN on
32 px batches, as another user's training job would be), started before the workload and
stopped after it; in the benchmark's own session by default (the scheduler then shares the
cores per thread: the worst case), or each in a session of its own with ``--own-session``
(as other logins and services are; Linux's autogroup scheduling then shares them per session). Each workload runs with sightkit's defaults (``default``)
and as sightkit ran before the thread settings existed (``baseline``: libgomp spin-waiting,
one fixed thread count), alternating. Reported: items/s, and the ratio to the same policy's
idle speed. Goals: with 2 competitors >= 0.30 of idle, with 1 >= 0.45; idle ``default`` within
5% of idle ``baseline``.

    python benchmarks/contention.py                       # about 20 minutes on 2 cores
    python benchmarks/contention.py --workloads predict-1,predict-batch --seconds 5
    python benchmarks/contention.py --workloads predict-1,face-identify --competitors 0,2 --load-repeats 3 \
        --name contention_single_thread_work      # repeated runs beside 2 competitors
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, SHARED_DATA, write_result

HERE = Path(__file__).parent
WORKLOADS = ("train", "predict-1", "predict-batch", "face-identify")
POLICIES = ("baseline", "default")
GOALS = {1: 0.45, 2: 0.30}
COMPETITOR = """
import torch, torch.nn as nn
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
while True:
    optimizer.zero_grad(); nn.functional.cross_entropy(model(x), y).backward(); optimizer.step()
"""
# what a competitor inherits: none of sightkit's or the user's thread settings
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "SIGHTKIT_THREADS")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--competitors", default="0,1,2", help="numbers of competing processes, in order")
    parser.add_argument("--seconds", type=float, default=8.0, help="time budget of each inference workload")
    parser.add_argument("--idle-repeats", type=int, default=3,
                        help="idle measurements per workload and policy, in alternating order; the median is kept")
    parser.add_argument("--load-repeats", type=int, default=1,
                        help="measurements beside competitors per workload and policy; the median is kept")
    parser.add_argument("--name", default="contention", help="results file: benchmarks/results/NAME.json")
    parser.add_argument("--own-session", action="store_true",
                        help="start each competitor in a session of its own, as another login or service is "
                             "(with Linux's autogroup scheduling, sessions share the CPU fairly); "
                             "writes NAME_own_session.json")
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    setup = RESULTS / "tmp" / "contention"
    notes = _prepare(setup, workloads)
    workloads = [w for w in workloads if w in _available(setup)]

    speeds: dict[str, dict[str, dict[int, float]]] = {w: {p: {} for p in POLICIES} for w in workloads}
    for competitors in map(int, args.competitors.split(",")):
        processes = [subprocess.Popen([sys.executable, "-c", COMPETITOR], env=CLEAN_ENV, start_new_session=args.own_session)
                     for _ in range(competitors)]
        try:
            time.sleep(2.0 if competitors else 0.0)
            for workload in workloads:
                runs: dict[str, list[float]] = {policy: [] for policy in POLICIES}
                for repeat in range(args.idle_repeats if competitors == 0 else args.load_repeats):
                    for policy in (POLICIES if repeat % 2 == 0 else POLICIES[::-1]):
                        runs[policy].append(_run(workload, setup, policy, args.seconds))
                        print(f"{competitors} competitors  {workload:14s} {policy:8s} {runs[policy][-1]:9.1f} items/s",
                              file=sys.stderr, flush=True)
                for policy, values in runs.items():
                    speeds[workload][policy][competitors] = statistics.median(values)
        finally:
            for process in processes:
                process.kill()
                process.wait()
    write_result(args.name + ("_own_session" if args.own_session else ""), {
        "competitors_in": "their own sessions" if args.own_session else "the benchmark's session",
        "notes": notes, "goals": {f"{k} competitors": v for k, v in GOALS.items()}, "results": _summarise(speeds)})


def _run(workload: str, setup: Path, policy: str, seconds: float) -> float:
    env = {**CLEAN_ENV, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, str(HERE / "_contention_worker.py"), workload, str(setup), policy,
                          "--seconds", str(seconds)], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["items"] / result["seconds"]


def _summarise(speeds: dict[str, dict[str, dict[int, float]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for workload, by_policy in speeds.items():
        rows = {}
        for policy, by_count in by_policy.items():
            idle = by_count.get(0)
            rows[policy] = {f"{n} competitors": {"items_per_s": round(v, 1),
                                                 "of_idle": round(v / idle, 3) if idle else None}
                            for n, v in by_count.items()}
        default, baseline = by_policy["default"].get(0), by_policy["baseline"].get(0)
        rows["idle_default_over_baseline"] = round(default / baseline, 3) if default and baseline else None
        rows["goals_met"] = {f"{n} competitors": (by_policy["default"][n] / default >= goal)
                             for n, goal in GOALS.items() if default and n in by_policy["default"]}
        summary[workload] = rows
    return summary


def _prepare(setup: Path, workloads: list[str]) -> list[str]:
    """Data, a trained bundle and a face gallery under ``setup`` (made once, then reused)."""
    notes = []
    if not (setup / "train").is_dir():
        _write_train_images(setup / "train", notes)
    if not (setup / "bundle" / "model").exists() and {"predict-1", "predict-batch"} & set(workloads):
        from sightkit.tasks.classify.config import make_config
        from sightkit.tasks.classify.train import train

        config = make_config(model="skcnn_small", epochs=1, device="cpu", seed=0)
        train(setup / "train", config, run_dir=setup / "bundle", progress=False)
    if not (setup / "predict").is_dir():
        shutil.copytree(setup / "train", setup / "predict")
    att = SHARED_DATA / "faces" / "att_faces"
    if "face-identify" in workloads and not (setup / "people.db").exists():
        if not att.is_dir():
            notes.append("face-identify skipped: ../shared/data/faces/att_faces is missing")
        else:
            from sightkit.tasks.face.api import FaceGallery

            gallery = FaceGallery(setup / "people.db")
            people = {f"s{i}": [att / f"s{i}" / "1.pgm"] for i in range(1, 11)}
            gallery.enroll_many(people)
            (setup / "probes").mkdir(exist_ok=True)
            for i in range(1, 11):
                for j in range(2, 8):
                    shutil.copy(att / f"s{i}" / f"{j}.pgm", setup / "probes" / f"s{i}_{j}.pgm")
    return notes


def _write_train_images(out: Path, notes: list[str]) -> None:
    import numpy as np
    from PIL import Image

    source = SHARED_DATA / "pneumoniamnist" / "train"
    if source.is_dir():
        notes.append("train: 3,000 PneumoniaMNIST training X-rays (28 px grey), evenly spread over the sorted files")
        for label in ("normal", "pneumonia"):
            (out / label).mkdir(parents=True, exist_ok=True)
        files = sorted(source.glob("*/*.png"))
        for path in files[:: max(1, len(files) // 3000)][:3000]:
            shutil.copy(path, out / path.parent.name / path.name)
        return
    from sklearn.datasets import load_digits

    notes.append("train: scikit-learn's 1,797 digits upscaled to 28 px (../shared is missing)")
    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        (out / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = (image * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((28, 28), Image.BILINEAR).save(out / str(label) / f"{i}.png")


def _available(setup: Path) -> set[str]:
    ready = {"train", "predict-1", "predict-batch"}
    return ready | ({"face-identify"} if (setup / "people.db").exists() else set())


if __name__ == "__main__":
    main()
