"""Deletion / insertion curves, the randomisation sanity check, and both on a trained model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sightkit.explain.api import explain_images, summarize
from sightkit.errors import ConfigError
from sightkit.explain.api import Explainer
from sightkit.explain.faithfulness import _perturb, _random_cells, deletion_insertion, randomized_copy, rank_correlation
from sightkit.tasks.classify.model import create_model
from sightkit.tasks.classify.predict import Predictor


def _region_model() -> nn.Module:
    """Class 0's logit is the sum of the top-left 4x4 pixels; class 1's is 0."""
    linear = nn.Linear(64, 2, bias=False)
    with torch.no_grad():
        weight = torch.zeros(2, 8, 8)
        weight[0, :4, :4] = 1.0
        linear.weight.copy_(weight.view(2, 64))
    return nn.Sequential(nn.Flatten(), linear)


def test_a_map_of_the_evidence_beats_a_random_order():
    model = _region_model()
    inputs = torch.rand(6, 1, 8, 8) + 0.5
    truth = torch.zeros(6, 8, 8)
    truth[:, :4, :4] = 1.0
    wrong = 1.0 - truth
    targets = torch.zeros(6, dtype=torch.long)
    probs_of = lambda x: torch.softmax(model(x), 1)  # noqa: E731
    good = deletion_insertion(probs_of, inputs, truth, targets, torch.zeros_like(inputs))
    bad = deletion_insertion(probs_of, inputs, wrong, targets, torch.zeros_like(inputs))
    assert (good["deletion_auc"] < good["random_deletion_auc"]).all()
    assert (good["insertion_auc"] > good["random_insertion_auc"]).all()
    assert (bad["deletion_auc"] > bad["random_deletion_auc"]).all()
    for key in ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc"):
        assert good[key].shape == (6,) and ((good[key] >= 0) & (good[key] <= 1)).all()
    curve = good["deletion_curve"]
    assert len(curve) == 17 and curve[0] > 0.99 and curve[-1] == pytest.approx(0.5)
    # The evidence sits in a corner: a centred prior map misses it.
    assert (good["deletion_auc"] < good["centre_deletion_auc"]).all()
    assert (good["insertion_auc"] > good["centre_insertion_auc"]).all()
    # With 1-pixel cells the region references are the pixel ones.
    assert np.array_equal(good["region_random_deletion_auc"], good["random_deletion_auc"])


def test_region_references_remove_whole_cells_of_the_map():
    values = _random_cells(3, 8, 8, 4, np.random.default_rng(0))
    blocks = values.reshape(3, 2, 4, 2, 4)
    assert np.allclose(blocks, blocks[:, :, :1, :, :1])  # constant inside each 4x4 cell
    assert len(np.unique(values[0])) == 4
    model = _region_model()
    inputs = torch.rand(6, 1, 8, 8) + 0.5
    truth = torch.zeros(6, 8, 8)
    truth[:, :4, :4] = 1.0
    probs_of = lambda x: torch.softmax(model(x), 1)  # noqa: E731
    scores = deletion_insertion(probs_of, inputs, truth, torch.zeros(6, dtype=torch.long), torch.zeros_like(inputs),
                                cell=4)
    # A random order of cells sometimes takes the evidence cell first too, never before the map.
    assert (scores["deletion_auc"] <= scores["region_random_deletion_auc"] + 1e-6).all()
    assert scores["deletion_auc"].mean() < scores["region_random_deletion_auc"].mean()


def test_imputed_removal_fills_pixels_from_their_kept_neighbours():
    image = torch.arange(16, dtype=torch.float32).view(1, 4, 4).repeat(3, 1, 1)  # each row counts up by 1
    baseline = torch.zeros_like(image)
    masks = torch.zeros(3, 16, dtype=torch.bool)
    masks[1, 5] = True  # pixel (1, 1): its neighbours average to its own value 5
    masks[2] = True
    deleted = _perturb(image, baseline, masks, "deletion", impute=True)
    assert torch.allclose(deleted[0], image) and torch.allclose(deleted[1], image, atol=1e-2)
    assert torch.allclose(deleted[2], baseline, atol=1e-6)  # nothing kept: the baseline anchors every pixel
    inserted = _perturb(image, baseline, masks, "insertion", impute=True)
    assert torch.allclose(inserted[0], baseline, atol=1e-6) and torch.allclose(inserted[2], image)


def test_rank_correlation():
    a = np.arange(16.0).reshape(4, 4)
    assert rank_correlation(a, a ** 2) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(a, np.zeros_like(a)) == 0.0  # a constant map has no ranks


def test_randomized_copy_changes_every_weight_and_leaves_the_original():
    torch.manual_seed(5)  # not randomized_copy's own seed, which would redraw the same weights
    model = create_model("skcnn_tiny", 3, 1).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    clone = randomized_copy(model)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    changed = [k for k, v in clone.state_dict().items() if k.endswith("weight") and not torch.equal(before[k], v)]
    conv_weights = [k for k in before if k.endswith("weight") and before[k].dim() == 4]
    assert set(conv_weights) <= set(changed) and not clone.training


# Sanity bound per method. LayerCAM's is looser: it weights the layer's activations location by
# location, and a randomly initialised network's activations also light up on a bright patch
# (measured: rho 0.54 here, against 0.2-0.3 on digits and CIFAR; Grad-CAM stays under 0.5).
@pytest.mark.parametrize(("method", "sanity_below"), [("gradcam", 0.5), ("layercam", 0.7)])
def test_cam_on_a_trained_model_is_faithful_and_passes_the_sanity_check(patch_bundle, patch_dataset, method,
                                                                         sanity_below):
    predictor = Predictor.from_bundle(patch_bundle)
    images = [p for label in ("left", "right") for p in sorted((patch_dataset / label).glob("*.png"))[::4]]
    results = explain_images(predictor, images, method, faithfulness=True, curve_baseline="mean")
    summary = summarize(results)
    assert summary["n"] == len(images) and summary["layer"]
    assert summary["mean_deletion_auc"] < summary["mean_random_deletion_auc"]
    assert summary["mean_insertion_auc"] > summary["mean_random_insertion_auc"]
    assert summary["both_beat_random"] >= 0.5
    assert summary["mean_sanity_rank_correlation"] < sanity_below
    assert set(results[0].faithfulness) == {"deletion_auc", "insertion_auc", "sanity_rank_correlation",
                                            *(f"{reference}_{kind}_auc" for kind in ("deletion", "insertion")
                                              for reference in ("random", "region_random", "centre"))}
    assert 0.0 <= summary["deletion_beats_region_random"] <= 1.0 and "insertion_beats_centre" in summary


def test_imputed_curves_run_end_to_end_and_a_bad_curve_baseline_lists_the_choices(patch_bundle, patch_dataset):
    predictor = Predictor.from_bundle(patch_bundle)
    images = sorted((patch_dataset / "left").glob("*.png"))[:2]
    summary = summarize(explain_images(predictor, images, "gradcam", faithfulness=True, curve_baseline="impute"))
    assert summary["n"] == 2 and 0.0 <= summary["mean_deletion_auc"] <= 1.0
    with pytest.raises(ConfigError, match="blur, impute"):
        Explainer(predictor, "gradcam", curve_baseline="noise")
