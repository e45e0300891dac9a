"""Diversity, k-NN precision / recall and FID / KID in a classifier's feature space."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from sightkit.tasks.classify.model import create_model
from sightkit.tasks.classify.predict import Predictor
from sightkit.tasks.generate.data import read_real_images
from sightkit.tasks.generate.features import FeatureNet
from sightkit.tasks.generate.metrics import diversity_ratio, fid_kid, mean_pairwise_distance, precision_recall


def test_diversity_of_a_constant_batch_is_zero() -> None:
    real = torch.rand(16, 1, 8, 8) * 2 - 1
    assert diversity_ratio(real[:1].repeat(16, 1, 1, 1), real) == 0.0
    assert abs(diversity_ratio(real.flip(0), real) - 1.0) < 1e-9
    assert mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == 5.0


def test_precision_recall_of_a_collapsed_set() -> None:
    torch.manual_seed(0)
    real = torch.randn(200, 4)
    collapsed = real[:5].repeat(40, 1)  # on the real manifold, covering little of it
    precision, recall = precision_recall(collapsed, real)
    assert precision == 1.0 and recall < 0.2
    far_precision, _ = precision_recall(real + 10, real)
    assert far_precision == 0.0


def test_fid_of_real_vs_real_is_below_noise_vs_real() -> None:
    torch.manual_seed(0)
    model = create_model("skcnn_tiny", num_classes=10, in_chans=1)  # random features still separate these
    meta = {"classes": [str(d) for d in range(10)],
            "preprocessing": {"mode": "L", "size": 16, "mean": [0.5], "std": [0.5]}}
    net = FeatureNet(Predictor(model, meta), "untrained skcnn_tiny")
    real = read_real_images("digits-test", size=32)
    half = len(real) // 2
    a, _ = net.embed(real.pil(list(range(half))))
    b, _ = net.embed(real.pil(list(range(half, 2 * half))))
    rng = np.random.default_rng(0)
    noise, _ = net.embed([Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8), mode="L")
                          for _ in range(half)])
    real_scores, noise_scores = fid_kid(b, a, kid_subsets=10), fid_kid(noise, a, kid_subsets=10)
    assert real_scores["fid"] < noise_scores["fid"] / 10
    assert real_scores["kid"] < noise_scores["kid"]
