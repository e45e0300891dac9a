"""Learning-rate schedules shared by every trainer."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(optimizer: Optimizer, total_steps: int, warmup_steps: int, min_ratio: float = 0.01,
                  clock: Callable[[], float] | None = None) -> LambdaLR:
    """Linear warm-up to the base rate, then cosine decay to ``min_ratio`` of it, stepped per batch.

    The lambda is rebuilt from ``total_steps`` each time training (re)starts, so resuming a
    run with more epochs stretches the remaining decay instead of restarting it. ``clock()``,
    when given, is the share of a time budget spent: the decay follows whichever of steps and
    time is further along, so a run that a busier machine slows still ends its decay in time.

    Example:
        >>> sched = warmup_cosine(opt, total_steps=1000, warmup_steps=50)  # doctest: +SKIP
    """
    total_steps = max(1, total_steps)
    warmup_steps = min(max(0, warmup_steps), total_steps - 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        progress = min(1.0, max(progress, clock() if clock is not None else 0.0))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
