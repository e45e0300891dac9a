"""Tiled inference equals untiled inference and leaves no seam."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sightkit.tasks.enhance.model import create_generator
from sightkit.tasks.enhance.tiling import _ramp, tiled_upscale


def _random_model(name: str = "lightsr", scale: int = 2, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_generator(name, scale, 1, **kwargs).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    return model


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_equals_untiled_within_1e3(scale: int) -> None:
    model = _random_model(scale=scale, features=8, blocks=3)
    x = torch.rand(1, 1, 45, 61)
    with torch.no_grad():
        whole = model(x)
        tiled = tiled_upscale(model, x, scale, tile=16, overlap=4, context=model.receptive_radius)
    assert (whole - tiled).abs().max() < 1e-3


def test_deep_model_beyond_the_context_cap_stays_close() -> None:
    model = _random_model("rrdb", 2, features=8, blocks=1, growth=4)
    x = torch.rand(1, 1, 40, 40)
    with torch.no_grad():
        diff = (model(x) - tiled_upscale(model, x, 2, tile=16, overlap=4, context=4)).abs().max()
    assert diff < 0.05


def test_smooth_gradient_shows_no_seam() -> None:
    model = _random_model(features=8, blocks=3)
    ramp = torch.linspace(0.1, 0.9, 64)
    x = (ramp[None, :] * 0.5 + ramp[:, None] * 0.5)[None, None]
    with torch.no_grad():
        out = tiled_upscale(model, x, 2, tile=16, overlap=4, context=model.receptive_radius)[0, 0].numpy()
    row_steps = np.abs(np.diff(out, axis=0))
    col_steps = np.abs(np.diff(out, axis=1))
    borders = [16 * 2 * k - 1 for k in range(1, 4)]  # steps across each tile border, in HR px
    interior = np.ones(row_steps.shape[0], bool)
    interior[borders] = False
    assert row_steps[borders].max() <= row_steps[interior].max() + 1e-6
    assert col_steps[:, borders].max() <= col_steps[:, interior].max() + 1e-6


def test_blending_ramps_sum_to_one() -> None:
    like = torch.zeros(1)
    total = torch.zeros(50 * 3)
    for start in range(0, 50, 16):
        stop = min(start + 16, 50)
        lo = max(0, start - 4)
        weight = _ramp(start, stop, 50, 4, 3, like)
        total[lo * 3: lo * 3 + len(weight)] += weight
    assert torch.allclose(total, torch.ones_like(total))


def test_small_input_runs_in_one_piece() -> None:
    calls = []

    def model(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape)
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)

    tiled_upscale(model, torch.rand(1, 1, 10, 12), 2, tile=16)
    assert calls == [(1, 1, 10, 12)]
