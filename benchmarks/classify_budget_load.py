"""A budget run whose machine turns busy after the plan: learning-rate decay by steps alone vs also by the clock.

``classify train DATA --max-minutes M`` times the machine once, before training. Here a
competing training job (the one of ``contention.py``, all cores) starts ``--busy-after`` seconds
into the run, so the planned epochs no longer fit and ``--max-minutes`` cuts the run. Arms:

* ``steps``: the cosine decay follows the steps alone (sightkit before the clock): the cut
  comes at a high learning rate;
* ``clock``: the decay follows whichever is further along, steps or the budget's clock (now).

Scored on a 20% test split (seed 0) the run never saw.

    python benchmarks/classify_budget_load.py --data cifar --minutes 5
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, write_result
from contention import CLEAN_ENV, COMPETITOR

FOLDERS = {"cifar": "cifar10_subset", "plant": "plantvillage_small"}


def run_arm(arm: str, data: Path, minutes: float, busy_after: float, competitors: int, tmp: Path) -> dict[str, Any]:
    from sightkit import Classifier
    from sightkit.tasks.classify.lit_module import ClassificationModule

    clock = ClassificationModule._budget_clock
    if arm == "steps":
        ClassificationModule._budget_clock = lambda self: None  # the schedule before the clock
    processes: list[subprocess.Popen] = []

    def start_competitors() -> None:
        processes.extend(subprocess.Popen([sys.executable, "-c", COMPETITOR], env=CLEAN_ENV)
                         for _ in range(competitors))

    timer = threading.Timer(busy_after, start_competitors)
    notes: list[str] = []
    start = time.perf_counter()
    timer.start()
    try:
        clf = Classifier.train(data, out=tmp / arm, max_minutes=minutes, test_fraction=0.2, progress=False,
                               status=notes.append)
    finally:
        timer.cancel()
        for process in processes:
            process.kill()
            process.wait()
        ClassificationModule._budget_clock = clock
    train_s = time.perf_counter() - start
    training = clf.meta["training"]
    return {"train_s": round(train_s, 1), "planned_epochs": training["config"]["epochs"],
            "epochs_run": training["epochs_run"], "stopped": training["stopped"],
            "model": training["config"]["model"], "best_val_accuracy": training.get("best_val_acc"),
            "test_accuracy": clf.evaluate(data)["accuracy"], "messages": notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=sorted(FOLDERS), default="cifar")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--busy-after", type=float, default=30.0, help="seconds before the competitor starts")
    parser.add_argument("--competitors", type=int, default=1, help="competing processes (each all cores)")
    parser.add_argument("--arms", nargs="+", default=["steps", "clock"], choices=["steps", "clock"])
    args = parser.parse_args()

    from sightkit import Classifier  # noqa: F401  (thread set-up before torch work)

    data = SHARED_DATA / FOLDERS[args.data]
    if not data.is_dir():
        raise SystemExit(f"{data} not found (needs ../shared/data)")
    results: dict[str, Any] = {"data": args.data, "minutes": args.minutes, "busy_after_s": args.busy_after,
                               "competitors": args.competitors, "arms": {}}
    for arm in args.arms:
        with tempfile.TemporaryDirectory() as tmp:
            results["arms"][arm] = run_arm(arm, data, args.minutes, args.busy_after, args.competitors, Path(tmp))
        print(arm, {k: v for k, v in results["arms"][arm].items() if k != "messages"}, flush=True)
        write_result(f"classify_budget_load_{args.data}", results)


if __name__ == "__main__":
    main()
