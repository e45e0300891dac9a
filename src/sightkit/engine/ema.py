"""Exponential moving average (EMA) of a model's weights and BatchNorm statistics during training.

Lightning's ``EMAWeightAveraging`` keeps the average: validation runs on it, so the best
checkpoint is chosen on it and holds it (the raw weights are kept beside them in the checkpoint to
resume from), and the model ends training with it.

Example:
    >>> ema_decay(total_steps=4000)
    0.995
"""

from __future__ import annotations

from lightning.pytorch.callbacks import EMAWeightAveraging

HORIZON_SHARE = 0.05  # the average spans about this share of the run's steps
MIN_DECAY, MAX_DECAY = 0.9, 0.9999


def ema_decay(total_steps: int) -> float:
    """The decay whose averaging horizon ``1 / (1 - decay)`` is 5% of the run's optimizer steps.

    A fixed 0.999 would average over 1,000 steps: most of a short CPU run, so the average would
    still hold the early, poor weights at the end.

    Example:
        >>> ema_decay(200), ema_decay(10**7)
        (0.9, 0.9999)
    """
    horizon = max(1.0, HORIZON_SHARE * total_steps)
    return round(min(MAX_DECAY, max(MIN_DECAY, 1 - 1 / horizon)), 6)


def ema_callback(total_steps: int, decay: float | None = None) -> EMAWeightAveraging:
    """The EMA callback of a run of ``total_steps`` optimizer steps (``decay`` default: :func:`ema_decay`)."""
    return EMAWeightAveraging(decay=decay if decay is not None else ema_decay(total_steps))
