"""Every registered generator builds, upsamples and honours its declared receptive field."""

from __future__ import annotations

import pytest
import torch

from sightkit.errors import ModelError
from sightkit.tasks.enhance.model import (
    GENERATORS,
    SCALES,
    count_parameters,
    create_discriminator,
    create_generator,
    receptive_field,
)

SMALL = {"lightsr": {"features": 8, "blocks": 2}, "srresnet": {"features": 8, "blocks": 1},
         "rrdb": {"features": 8, "blocks": 1, "growth": 4}}


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_upsamples_by_scale(name: str, scale: int, channels: int) -> None:
    model = create_generator(name, scale, channels, **SMALL[name]).eval()
    with torch.no_grad():
        out = model(torch.rand(2, channels, 9, 11))
    assert out.shape == (2, channels, 9 * scale, 11 * scale)


@pytest.mark.parametrize("scale", SCALES)
def test_light_generator_is_under_100k_parameters(scale: int) -> None:
    assert count_parameters(create_generator("lightsr", scale, 1)) < 100_000
    assert count_parameters(create_generator("lightsr", scale, 3)) < 100_000


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_output_depends_only_on_the_receptive_field(name: str) -> None:
    torch.manual_seed(0)
    model = create_generator(name, 2, 1, **SMALL[name]).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, 0, 0.1)
    radius = (receptive_field(model) - 1) // 2
    x = torch.rand(1, 1, 2 * radius + 20, 2 * radius + 20)
    y = x.clone()
    centre = radius + 10
    y[..., centre, centre] += 1.0
    with torch.no_grad():
        changed = (model(x) - model(y)).abs().squeeze() > 1e-6
    rows, cols = torch.nonzero(changed, as_tuple=True)
    assert changed.any()
    # Output pixels that moved map back within the declared radius of the changed input pixel.
    assert (rows // 2 - centre).abs().max() <= radius and (cols // 2 - centre).abs().max() <= radius


def test_light_generator_starts_as_bicubic() -> None:
    model = create_generator("lightsr", 4, 1).eval()
    x = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        expected = torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
        assert torch.allclose(model(x), expected)


def test_discriminator_gives_patch_logits() -> None:
    disc = create_discriminator("patch_sn", channels=1, features=8)
    assert disc(torch.rand(2, 1, 64, 48)).shape == (2, 1, 8, 6)


def test_unknown_names_and_scales_are_clear_errors() -> None:
    with pytest.raises(ModelError, match="did you mean 'lightsr'"):
        create_generator("lightsrr", 2)
    with pytest.raises(ModelError, match="x2, x3, x4"):
        create_generator("lightsr", 8)
    with pytest.raises(ModelError, match="bad architecture arguments"):
        create_generator("lightsr", 2, features=8, depth=3)
