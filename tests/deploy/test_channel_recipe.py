"""Channel recipes rebuild a pruned model from its registered architecture, without unpickling."""

from __future__ import annotations

import pytest
import torch

from sightkit.core.channels import apply_channel_recipe, channel_recipe
from sightkit.deploy.prune import prune_model
from sightkit.errors import BundleError
from sightkit.tasks.classify.model import create_model


@pytest.mark.parametrize("name", ["skcnn_tiny", "resnet18"])
def test_recipe_round_trip(name: str) -> None:
    torch.manual_seed(0)
    pruned = prune_model(create_model(name, 4, 3), torch.zeros(1, 3, 16, 16), 4, ratio=0.5)
    recipe = channel_recipe(pruned, create_model(name, 4, 3))
    assert recipe and all(set(spec) <= {"in", "out", "groups", "features"} for spec in recipe.values())
    rebuilt = apply_channel_recipe(create_model(name, 4, 3), recipe)
    rebuilt.load_state_dict(pruned.state_dict())
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(rebuilt.eval()(x), pruned.eval()(x), atol=1e-5)
    assert pruned.eval()(x).shape == (2, 4)  # the output layer keeps every class


def test_recipe_naming_a_missing_layer() -> None:
    with pytest.raises(BundleError, match="layer 'nope'"):
        apply_channel_recipe(create_model("skcnn_tiny", 2, 3), {"nope": {"features": 4}})
