"""Does channels_last or torch.compile speed up CPU training of the built-in CNNs?

Times training steps (forward, backward, AdamW update) of random batches for each model and
input side, in rounds that alternate the variants so a busy machine slows all alike:

* ``eager``: what ``classify train`` runs (NCHW, no compilation);
* ``channels_last``: model and batches in NHWC memory format;
* ``compile``: ``torch.compile(model)``; its compile time is reported apart and as the minutes of
  training it would take to pay back.

    python benchmarks/classify_speedups.py --models skcnn_small skcnn_base --sizes 32 64
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _common import write_result

VARIANTS = ("eager", "channels_last", "compile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["skcnn_small", "skcnn_base"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from sightkit import Classifier  # noqa: F401  (thread set-up before torch work)
    import torch
    import torch.nn.functional as F

    from sightkit.tasks.classify.model import create_model

    results: dict[str, Any] = {}
    for name in args.models:
        for size in args.sizes:
            torch.manual_seed(0)
            images = torch.randn(args.batch_size, 3, size, size)
            labels = torch.randint(0, 10, (args.batch_size,))
            runners, compile_s = {}, None
            for variant in VARIANTS:
                model = create_model(name, 10, 3).train()
                batch = images
                if variant == "channels_last":
                    model, batch = model.to(memory_format=torch.channels_last), images.contiguous(
                        memory_format=torch.channels_last)
                optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
                forward = torch.compile(model) if variant == "compile" else model

                def step(forward=forward, batch=batch, optimizer=optimizer) -> None:
                    loss = F.cross_entropy(forward(batch), labels)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()

                start = time.perf_counter()
                step()  # warm-up; for compile, the compilation
                if variant == "compile":
                    compile_s = time.perf_counter() - start
                runners[variant] = step
            timings: dict[str, list[float]] = {v: [] for v in VARIANTS}
            for _ in range(args.rounds):
                for variant, step in runners.items():
                    start = time.perf_counter()
                    for _ in range(args.steps):
                        step()
                    timings[variant].append((time.perf_counter() - start) / args.steps)
            per_step = {v: statistics.median(t) for v, t in timings.items()}
            saved = per_step["eager"] - per_step["compile"]
            results[f"{name}@{size}px"] = {
                "seconds_per_step": {v: round(t, 4) for v, t in per_step.items()},
                "speed_vs_eager": {v: round(per_step["eager"] / t, 3) for v, t in per_step.items()},
                "compile_s": round(compile_s or 0, 1),
                "compile_payback_minutes": round(compile_s / saved / 60, 1) if saved > 0 else None,
            }
            print(name, size, results[f"{name}@{size}px"], flush=True)
    write_result("classify_speedups", {"batch_size": args.batch_size, "results": results})


if __name__ == "__main__":
    main()
