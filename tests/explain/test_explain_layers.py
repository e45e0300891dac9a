"""Which layer Grad-CAM reads: automatic choice, override by name, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_helpers import make_predictor
from torch import nn

from sightkit.errors import ConfigError
from sightkit.explain.api import Explainer, explain_images
from sightkit.explain.layers import MIN_LAYERCAM_SIDE, candidate_layers, choose_cam_layer
from sightkit.tasks.classify.model import create_model


@pytest.mark.parametrize(("size", "expected"), [(32, "features"), (8, "features.4")])
def test_builtin_model_uses_its_last_block_with_a_map_of_at_least_4x4(size, expected):
    model = create_model("skcnn_tiny", 2, 3).eval()
    assert choose_cam_layer(model, 3, size)[0] == expected


@pytest.mark.parametrize(("size", "expected"), [(32, "features.7"), (8, "features.1"), (16, "features.4")])
def test_layercam_reads_a_layer_one_pooling_stage_finer(size, expected):
    torch.manual_seed(0)
    predictor = make_predictor(create_model("skcnn_tiny", 2, 3), size=size, mode="RGB")
    assert Explainer(predictor, "layercam").layer == expected
    assert Explainer(predictor, "gradcam").layer != expected
    model = create_model("resnet18", 2, 3).eval()
    assert choose_cam_layer(model, 3, 32, min_side=MIN_LAYERCAM_SIDE)[0] == "layer1"  # 8x8; layer2 is 4x4


def test_timm_model_uses_its_feature_blocks():
    model = create_model("resnet18", 2, 3).eval()
    assert candidate_layers(model) == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert choose_cam_layer(model, 3, 32)[0] == "layer2"  # layer4 is 1x1 at 32 px
    assert choose_cam_layer(model, 3, 128)[0] == "layer4"


def test_layer_can_be_overridden_by_name(skcnn_predictor):
    explainer = Explainer(skcnn_predictor, "gradcam", layer="features.0")
    assert explainer.layer == "features.0"
    image = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    assert explain_images(skcnn_predictor, [image], layer="features.0")[0].layer == "features.0"


def test_invalid_layer_name_lists_the_valid_ones(skcnn_predictor):
    with pytest.raises(ConfigError, match=r"--layer 'layer9' is not a layer.*features\.3 \(8x8\).*features \(2x2\)"):
        Explainer(skcnn_predictor, "gradcam", layer="layer9")
    with pytest.raises(ConfigError, match="does not output a feature map"):
        Explainer(skcnn_predictor, "gradcam", layer="head")


def test_layer_option_is_refused_for_methods_without_a_layer(skcnn_predictor):
    with pytest.raises(ConfigError, match="--layer applies to gradcam, guided_gradcam, layercam only"):
        Explainer(skcnn_predictor, "saliency", layer="features")


def test_model_without_convolutions_names_the_methods_that_apply():
    torch.manual_seed(0)
    predictor = make_predictor(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), size=8)
    for method in ("gradcam", "guided_gradcam", "layercam"):
        with pytest.raises(ConfigError, match="no convolutional layer.*integrated_gradients | occlusion | saliency"):
            Explainer(predictor, method)
    image = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    assert explain_images(predictor, [image], "saliency")[0].map.shape == (8, 8)
