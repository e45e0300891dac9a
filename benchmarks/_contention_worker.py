"""One timed workload of ``contention.py``, run in its own process; prints ``{"items", "seconds"}`` as JSON.

    python _contention_worker.py WORKLOAD SETUP_DIR {default|baseline} [--seconds S]

``default``: the thread settings the ``sightkit`` command makes (``prepare_process`` before
torch loads, no explicit thread count). ``baseline``: sightkit before they existed (libgomp's
own spin-waiting, ONNX Runtime's defaults, every core, one fixed thread count).
Only the workload is timed, not imports or model loading.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=("train", "predict-1", "predict-batch", "face-identify"))
    parser.add_argument("setup", type=Path)
    parser.add_argument("policy", choices=("default", "baseline"))
    parser.add_argument("--seconds", type=float, default=8.0, help="time budget of the inference workloads")
    args = parser.parse_args()

    import sightkit
    from sightkit.core.threads import cpu_count, prepare_process

    if args.policy == "default":
        prepare_process()
    else:
        import torch  # noqa: F401  (loaded before sightkit sets anything: its own defaults)

        sightkit.set_threads(cpu_count())
    items, seconds = WORKLOADS[args.workload](args.setup, args.seconds)
    print(json.dumps({"items": items, "seconds": seconds}))


def _train(setup: Path, budget: float) -> tuple[int, float]:
    from sightkit.tasks.classify.train import train

    from sightkit.tasks.classify.config import make_config

    config = make_config(model="skcnn_small", epochs=2, batch_size=64, val_fraction=0.1, device="cpu", seed=0)
    images = sum(1 for _ in (setup / "train").rglob("*.png"))
    start = time.perf_counter()
    train(setup / "train", config, run_dir=setup / f"run-{os.getpid()}", progress=False)
    return int(images * 0.9) * 2, time.perf_counter() - start


def _predict(setup: Path, budget: float, batch: int) -> tuple[int, float]:
    from sightkit.tasks.classify.api import Classifier

    clf = Classifier.load(setup / "bundle" / "model")
    files = sorted((setup / "predict").rglob("*.png"))
    clf.predict(files[:batch])  # warm-up
    items, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget:
        chunk = files[items % len(files):][:batch] or files[:batch]
        clf.predict(chunk)
        items += len(chunk)
    return items, time.perf_counter() - start


def _identify(setup: Path, budget: float) -> tuple[int, float]:
    from sightkit.tasks.face.api import FaceGallery

    gallery = FaceGallery(setup / "people.db", create=False)
    probes = sorted((setup / "probes").glob("*"))
    gallery.identify(probes[0])
    items, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget:
        gallery.identify(probes[items % len(probes)])
        items += 1
    return items, time.perf_counter() - start


WORKLOADS = {
    "train": _train,
    "predict-1": lambda setup, budget: _predict(setup, budget, 1),
    "predict-batch": lambda setup, budget: _predict(setup, budget, 256),
    "face-identify": _identify,
}

if __name__ == "__main__":
    sys.exit(main())
