"""DDP on 2 CPU processes (gloo) against 1 process, for every trainable task, on this machine.

Each task trains the same number of optimizer steps with ``--devices 1`` and with ``--devices 2
--strategy ddp`` (``--batch-size`` is the global batch, so both take the same steps), alternating
in rounds. Every process computes on one thread (``SIGHTKIT_THREADS=1``), so the 2-process run
uses 2 cores where the 1-process run uses 1: the ratio is DDP's scaling at one core per process,
on 2 cores shared with other jobs. Measured: the wall time of the whole command (start-up,
process launch, training, validation, bundle) and the training images/s that the Throughput
callback logs (all processes together, first epoch dropped; it counted inpainting's bare image
tensor batches wrongly before 2026-12-03, so the runs of that date have no inpainting img/s), plus
each run's final metric.

Data: scikit-learn digits (generate), 64 generated shape images (detect), the T91 images of
``../shared/data/sr`` (enhance, inpaint; the run is skipped without them).

    cd benchmarks && SIGHTKIT_THREADS=1 nice -n 5 python scale_tasks.py --rounds 1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, write_result

# The final figure each task's --json prints (the same key names in both runs).
_METRIC = {"generate": "diversity", "detect": "best_val_map_50", "enhance": "psnr_y", "inpaint": "last_val_hole_psnr"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="alternating 1- and 2-process runs of each task")
    parser.add_argument("--tasks", default="generate,detect,enhance,inpaint")
    args = parser.parse_args()
    os.environ.setdefault("SIGHTKIT_THREADS", "1")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for task in args.tasks.split(","):
            command = _commands(task, root)
            if command is None:
                results[task] = {"skipped": f"{SHARED_DATA / 'sr' / 'T91'} not found"}
                continue
            results[task] = _compare(task, command, root, args.rounds)
            print(task, json.dumps(results[task]), file=sys.stderr, flush=True)
    write_result("scale_tasks", {"threads_per_process": os.environ["SIGHTKIT_THREADS"], "tasks": results,
                                 "note": "2 processes on 2 shared cores, one thread each, against 1 process on one "
                                         "thread: DDP's scaling at one core per process, not GPU figures"})


def _commands(task: str, root: Path) -> list[str] | None:
    """The training command of ``task`` (without --devices/--strategy/--out), or None without its data."""
    base = [sys.executable, "-m", "sightkit"]
    common = ["--device", "cpu", "--no-progress", "--json"]
    if task == "generate":
        return [*base, "generate", "train", "digits", "--epochs", "3", "--batch-size", "64", "--width", "16",
                "--disc-width", "16", *common]
    if task == "detect":
        from sightkit.tasks.detect.shapes import write_shapes

        data = root / "shapes"
        if not data.exists():
            write_shapes(data, count=64, size=64, fmt="yolo", seed=1)
        return [*base, "detect", "train", str(data), "--image-size", "64", "--batch-size", "8", "--epochs", "3",
                "--val-fraction", "0.25", *common]
    sr = SHARED_DATA / "sr" / "T91"
    if not sr.is_dir():
        return None
    if task == "enhance":
        return [*base, "enhance", "train", str(sr), "--scale", "2", "--patch", "48", "--batch-size", "16",
                "--steps", "40", "--epochs", "3", "--val-fraction", "0.05", *common]
    if task == "inpaint":
        return [*base, "enhance", "train-inpaint", str(sr), "--patch", "48", "--batch-size", "16", "--steps", "40",
                "--epochs", "3", "--val-fraction", "0.05", *common]
    raise SystemExit(f"unknown task {task!r}")


def _compare(task: str, command: list[str], root: Path, rounds: int) -> dict[str, Any]:
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for round_ in range(rounds):
        for devices in (1, 2):
            run = root / f"{task}-{devices}-{round_}"
            full = [*command, "--devices", str(devices), "--out", str(run)]
            if devices > 1:
                full += ["--strategy", "ddp"]
            clock = time.perf_counter()
            done = subprocess.run(full, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
            if done.returncode:
                raise SystemExit(f"{task}: {done.stderr[-2000:]}")
            result = json.loads(done.stdout)
            runs[devices].append({"wall_s": round(time.perf_counter() - clock, 1),
                                  "train_img_s": _logged_rate(run),
                                  _METRIC[task]: result.get(_METRIC[task]),
                                  "command": " ".join(full[1:]).replace(str(root), "TMP")})
    wall = [two["wall_s"] / one["wall_s"] for one, two in zip(runs[1], runs[2])]
    summary: dict[str, Any] = {"1_process": runs[1], "2_processes": runs[2],
                               "wall_2_over_1": round(statistics.median(wall), 2)}
    rates = [(one["train_img_s"], two["train_img_s"]) for one, two in zip(runs[1], runs[2]) if one["train_img_s"]]
    if rates:
        summary["train_img_s_2_over_1"] = round(statistics.median(two / one for one, two in rates), 2)
    return summary


def _logged_rate(run: Path) -> float | None:
    """Median training images/s of the epochs after the first, from the run's (first stage's) CSV log."""
    logs = sorted(run.glob("**/logs/metrics.csv"))
    if not logs:
        return None
    with open(logs[0], newline="") as handle:
        rates = [float(r["img_per_s"]) for r in csv.DictReader(handle) if r.get("img_per_s")][1:]
    return round(statistics.median(rates), 1) if rates else None


if __name__ == "__main__":
    main()
