"""The learning-rate schedule: warm-up, cosine decay by steps, and by the clock of a time budget."""

from __future__ import annotations

import pytest
import torch

from sightkit.engine.schedule import warmup_cosine


def _rates(clock=None, steps: int = 10) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_cosine(optimizer, total_steps=steps, warmup_steps=2, clock=clock)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_warmup_then_cosine_to_the_floor():
    rates = _rates()
    assert rates[:2] == pytest.approx([1 / 3, 2 / 3])
    assert rates[2] == pytest.approx(1.0)
    assert rates == sorted(rates[:3]) + sorted(rates[3:], reverse=True)[:7]
    assert rates[-1] == pytest.approx(0.01 + 0.99 * 0.5 * (1 + torch.cos(torch.tensor(7 / 8 * torch.pi)).item()))


def test_the_clock_moves_the_decay_on_when_time_runs_ahead_of_the_steps():
    assert _rates(clock=lambda: 0.0) == pytest.approx(_rates())  # on time: the step schedule
    late = _rates(clock=lambda: 1.0)  # the budget is spent: the floor straight after warm-up
    assert late[:2] == pytest.approx([1 / 3, 2 / 3]) and late[2:] == pytest.approx([0.01] * 8)
    half = _rates(clock=lambda: 0.5)
    assert half[2] == pytest.approx(0.505) and half[-1] == pytest.approx(_rates()[-1])  # steps lead again later
