"""Patch-feature extractors and the autoencoder: shapes, fixed random weights, backbone layer choice."""

from __future__ import annotations

import pytest
import torch

from sightkit.errors import ModelError
from sightkit.tasks.anomaly.model import ClassifyBackbone, ConvAutoencoder, PatchFeatures, RandomWideCNN
from sightkit.tasks.classify.model import create_model


def test_random_backbone_is_seeded_and_gives_quarter_side_patches() -> None:
    first, again, other = RandomWideCNN(3, seed=0), RandomWideCNN(3, seed=0), RandomWideCNN(3, seed=1)
    assert torch.equal(first.stages[0][0].weight, again.stages[0][0].weight)
    assert not torch.equal(first.stages[0][0].weight, other.stages[0][0].weight)
    assert PatchFeatures(first)(torch.zeros(2, 3, 64, 64)).shape == (2, 128 + 256, 16, 16)


def test_skcnn_backbone_uses_its_last_two_stages() -> None:
    model = create_model("skcnn_tiny", num_classes=3, in_chans=1).eval()  # widths 16, 32, 64
    assert PatchFeatures(ClassifyBackbone(model, 32))(torch.zeros(1, 1, 32, 32)).shape == (1, 32 + 64, 8, 8)


@pytest.mark.parametrize("size, indices, side", [(32, [1, 2], 8), (224, [2, 3], 28)])
def test_timm_backbone_takes_stride_16_levels_at_most(size: int, indices: list[int], side: int) -> None:
    backbone = ClassifyBackbone(create_model("resnet18", num_classes=2).eval(), size)
    assert backbone._indices == indices
    with torch.no_grad():
        assert PatchFeatures(backbone)(torch.zeros(1, 3, size, size)).shape[-1] == side


def test_a_model_without_feature_levels_is_refused() -> None:
    with pytest.raises(ModelError, match="no intermediate feature maps"):
        ClassifyBackbone(torch.nn.Linear(3, 2), 32)


def test_autoencoder_keeps_the_shape() -> None:
    assert ConvAutoencoder(1, width=8, latent=4)(torch.zeros(2, 1, 16, 16)).shape == (2, 1, 16, 16)
