"""Training throughput of the built-in CNNs against batch size on this CPU: does a bigger batch pay?

Times AdamW training steps (channels_last, as sightkit trains) at batch 32-256 and reports
milliseconds per image; the budget plan keeps ``--batch-size 64`` unless bigger batches are
clearly faster per image (they give fewer steps per epoch, which small data needs).

    python benchmarks/classify_batch_size.py
"""

from __future__ import annotations

import argparse
import time

from _common import write_result

STEPS = 5  # timed steps per setting, after one warm-up step


def ms_per_image(name: str, size: int, batch: int) -> float:
    import torch
    import torch.nn.functional as F

    from sightkit.tasks.classify.model import create_model

    torch.manual_seed(0)
    model = create_model(name, 10, 3).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    images = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch,))
    timings = []
    for _ in range(STEPS + 1):
        start = time.perf_counter()
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        timings.append(time.perf_counter() - start)
    return 1000 * sum(timings[1:]) / STEPS / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256])
    args = parser.parse_args()

    from sightkit import Classifier  # noqa: F401  (thread set-up before torch work)

    results = {}
    for name, size in (("skcnn_small", 32), ("skcnn_base", 32), ("skcnn_small", 64)):
        key = f"{name}@{size}px"
        results[key] = {str(b): round(ms_per_image(name, size, b), 3) for b in args.batches}
        print(key, results[key], flush=True)
    write_result("classify_batch_size", {"ms_per_image": results})


if __name__ == "__main__":
    main()
