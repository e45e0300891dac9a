"""Attribution methods: shapes, value ranges, batching; baselines and overlays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_helpers import make_predictor
from PIL import Image
from torch import nn

from sightkit.errors import ConfigError
from sightkit.explain.api import Explainer, explain_images
from sightkit.explain.baselines import make_baseline
from sightkit.explain.methods import METHODS, attribute, occlusion_window
from sightkit.explain.overlay import DISPLAY_SIDE, overlay
from sightkit.tasks.classify.model import create_model


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_one_map_per_image_in_unit_range(skcnn_predictor, method):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(3)]
    results = explain_images(skcnn_predictor, images, method, batch_size=2)
    assert len(results) == 3
    for r in results:
        assert r.map.shape == (16, 16) and r.map.dtype == np.float32
        assert r.map.min() >= 0.0 and r.map.max() <= 1.0
        assert r.map.max() == pytest.approx(1.0)  # normalised by its own peak
        assert r.method == method and r.label in skcnn_predictor.classes and 0.0 <= r.score <= 1.0
        assert r.overlay.mode == "RGB" and r.overlay.width == DISPLAY_SIDE


def test_batched_maps_equal_one_by_one(skcnn_predictor):
    images = [np.random.default_rng(i).integers(0, 256, (16, 16), dtype=np.uint8) for i in range(4)]
    together = explain_images(skcnn_predictor, images, "integrated_gradients", batch_size=4)
    alone = explain_images(skcnn_predictor, images, "integrated_gradients", batch_size=1)
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.map, b.map, atol=1e-4)


def test_colour_model_and_timm_backbone():
    torch.manual_seed(0)
    predictor = make_predictor(create_model("resnet18", 3, 3), size=32, mode="RGB")
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    result = explain_images(predictor, [image], "gradcam")[0]
    assert result.map.shape == (32, 32) and result.layer == "layer2"


def test_layercam_weights_each_location_by_its_own_positive_gradient():
    # conv -> ReLU (A) -> mean pool -> linear: dy/dA_k is w_k / 64 at every location, so LayerCAM
    # is relu(sum_k relu(w_k) A_k) up to scale, while Grad-CAM also subtracts channels with w_k < 0.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(3, 2)).eval()
    with torch.no_grad():
        model[4].weight.copy_(torch.tensor([[1.0, -1.0, 0.5], [0.0, 1.0, 0.0]]))
    inputs, targets = torch.randn(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)
    acts = model[1](model[0](inputs)).detach()
    expected = acts[:, 0] + 0.5 * acts[:, 2]
    expected = expected / expected.flatten(1).amax(1).view(-1, 1, 1)
    layercam = attribute(model, inputs, targets, "layercam", layer=model[1])
    torch.testing.assert_close(layercam, expected, atol=1e-5, rtol=1e-4)
    gradcam = attribute(model, inputs, targets, "gradcam", layer=model[1])
    assert not torch.allclose(gradcam, layercam, atol=1e-3)
    assert all(p.grad is None for p in model.parameters())  # no gradients left on the model


def test_target_class_by_name_is_explained_instead_of_the_top(skcnn_predictor):
    image = np.full((16, 16), 100, np.uint8)
    top = explain_images(skcnn_predictor, [image], "saliency")[0]
    other = next(c for c in skcnn_predictor.classes if c != top.predicted)
    result = explain_images(skcnn_predictor, [image], "saliency", target=other)[0]
    assert result.label == other and result.predicted == top.predicted


def test_unknown_method_and_baseline_are_refused(skcnn_predictor):
    with pytest.raises(ConfigError, match="choose one of gradcam"):
        Explainer(skcnn_predictor, "lime")
    with pytest.raises(ConfigError, match="black, mean, blur"):
        Explainer(skcnn_predictor, "integrated_gradients", baseline="white")


def test_baselines():
    batch = torch.rand(2, 3, 16, 16)
    black = make_baseline(batch, "black", [0.5, 0.4, 0.3], [0.25, 0.2, 0.1])
    assert torch.allclose(black[1, :, 5, 5], torch.tensor([-2.0, -2.0, -3.0]))
    assert torch.equal(make_baseline(batch, "mean", [0.5] * 3, [0.25] * 3), torch.zeros_like(batch))
    blurred = make_baseline(batch, "blur", [0.5] * 3, [0.25] * 3)
    assert blurred.shape == batch.shape and blurred.std() < batch.std()
    assert occlusion_window(8) == 2 and occlusion_window(64) == 8


def test_overlay_draws_the_heat_and_fits_long_captions():
    image = Image.new("L", (8, 8), 0)
    heat = np.zeros((8, 8))
    heat[:, :4] = 1.0
    drawn = np.asarray(overlay(image, heat, "a very long class name " * 10))
    left, right = drawn[100, 20], drawn[100, 200]
    assert left[0] > right[0] and drawn.shape == (250, 224, 3)  # jet: hot is red, cold is blue
