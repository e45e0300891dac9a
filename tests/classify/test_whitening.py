"""Tests of the patch-whitening first layer: what it computes, that it stays fixed, and that a run fits and ships it."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from sightkit import Classifier
from sightkit.tasks.classify.model import create_model
from sightkit.tasks.classify.whitening import PatchWhitening


def _correlated_images(n: int = 100) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(n, 3, 16, 16)
    return 2.0 * x + x.roll(1, dims=3) + 0.5 * x.roll(1, dims=1)  # neighbouring pixels and channels correlate


def test_fitted_filters_decorrelate_patches_to_unit_variance():
    images = _correlated_images()
    layer = PatchWhitening(3)
    layer.fit(images)
    half = layer.out_chans // 2
    responses = F.conv2d(images, layer.weight[:half]).permute(1, 0, 2, 3).reshape(half, -1)
    covariance = torch.cov(responses)
    assert torch.allclose(covariance.diagonal(), torch.ones(half), atol=0.01)
    assert (covariance - torch.diag(covariance.diagonal())).abs().max() < 0.01
    assert torch.equal(layer.weight[half:], -layer.weight[:half])  # each filter and its negative


def test_filters_are_saved_but_not_trained():
    model = create_model("skcnn_small_w", num_classes=2)
    stem = model.features[0]
    assert "features.0.weight" in model.state_dict()
    assert all(p is not stem.weight for p in model.parameters())
    stem.fit(_correlated_images(20))
    before = stem.weight.clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    F.cross_entropy(model(torch.randn(4, 3, 16, 16)), torch.tensor([0, 1, 0, 1])).backward()
    optimizer.step()
    assert torch.equal(stem.weight, before)
    assert stem.bias.grad is not None


def test_a_run_fits_the_layer_and_its_bundle_predicts_the_same(make_dataset, tmp_path: Path):
    data = make_dataset(per_class=10, size=12)
    messages: list[str] = []
    clf = Classifier.train(data, model="skcnn_small_w", epochs=2, batch_size=4, out=tmp_path / "run",
                           progress=False, status=messages.append)
    assert any(m.startswith("whitening: ") for m in messages)
    images = sorted(data.rglob("*.png"))[:4]
    again = Classifier.load(tmp_path / "run" / "model")  # an unfitted (zero) layer would answer otherwise
    assert torch.allclose(torch.as_tensor(again.predict_proba(images)), torch.as_tensor(clf.predict_proba(images)))
