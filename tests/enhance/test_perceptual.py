"""Feature networks of the perceptual loss: the offline default and a local VGG19 file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sightkit.errors import ModelError
from sightkit.tasks.enhance.perceptual import VggFeatures, build_feature_net, vgg19_layer_index


def test_random_features_are_fixed_and_frozen() -> None:
    torch.manual_seed(123)
    a = build_feature_net("random", channels=1)
    torch.manual_seed(456)
    b = build_feature_net("random", channels=1)
    x = torch.rand(1, 1, 16, 16)
    assert all(torch.equal(fa, fb) for fa, fb in zip(a(x), b(x)))
    assert not any(p.requires_grad for p in a.parameters())


def test_local_vgg_weights_are_loaded(tmp_path: Path) -> None:
    from safetensors.torch import save_file
    from torchvision.models import vgg19

    features = vgg19(weights=None).features[:3]  # conv1_1, relu, conv1_2: a small file
    save_file({f"features.{k}": v for k, v in features.state_dict().items()}, str(tmp_path / "vgg.safetensors"))
    net = build_feature_net(str(tmp_path / "vgg.safetensors"), "conv1_2", channels=1)
    assert isinstance(net, VggFeatures)
    assert torch.equal(net.features[2].weight, features[2].weight)
    assert net(torch.rand(1, 1, 8, 8))[0].shape == (1, 64, 8, 8)
    torch.save(features.state_dict(), tmp_path / "vgg.pth")  # bare "features" keys work too
    assert isinstance(build_feature_net(str(tmp_path / "vgg.pth"), "conv1_2"), VggFeatures)


def test_bad_feature_net_options_are_clear() -> None:
    assert vgg19_layer_index("conv5_4") == 34
    with pytest.raises(ModelError, match="convB_C"):
        vgg19_layer_index("conv6_1")
    with pytest.raises(ModelError, match="local VGG19 weight file"):
        build_feature_net("vgg19-imagenet")
