"""Inpainting: masks, the gated generator, filling any image with known pixels untouched, evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from enhance_helpers import smooth_image
from PIL import Image

from sightkit.core.bundle import save_bundle
from sightkit.errors import BundleError, EnhanceError
from sightkit.tasks.enhance.inpaint.api import Inpainter, box_mask
from sightkit.tasks.enhance.inpaint.masks import RATIO_BUCKETS, bucket_mask, random_mask
from sightkit.tasks.enhance.inpaint.model import GatedInpainter, composite, telea_fill
from sightkit.tasks.enhance.inpaint.predict import binary_mask, hole_windows


def tiny_inpaint_bundle(path: Path, width: int = 8) -> Path:
    """An untrained gated inpainter saved as an ``inpaint`` bundle."""
    torch.manual_seed(0)
    model = GatedInpainter(channels=3, width=width)
    meta = {"task": "inpaint", "kind": "l1", "architecture": {"name": "gated", "channels": 3, "width": width},
            "preprocessing": {"color": "rgb", "range": "0-1", "train_patch": 16}}
    return save_bundle(path, model.state_dict(), meta)


@pytest.fixture
def inpainter(tmp_path: Path) -> Inpainter:
    return Inpainter.load(tiny_inpaint_bundle(tmp_path / "inpaint"))


@pytest.mark.parametrize("bucket", RATIO_BUCKETS)
def test_bucket_masks_fall_in_their_ratio_bucket_and_repeat_per_seed(bucket) -> None:
    for seed in range(5):
        mask = bucket_mask(60, 80, bucket, seed)
        assert mask.shape == (60, 80) and bucket[0] <= mask.mean() < bucket[1]
        assert np.array_equal(mask, bucket_mask(60, 80, bucket, seed))


def test_training_masks_cover_about_the_requested_ratio() -> None:
    rng = np.random.default_rng(0)
    ratios = [random_mask(64, 64, 0.25, rng).mean() for _ in range(40)]
    assert 0.18 < np.mean(ratios) < 0.35


def test_generator_refines_the_classical_fill_and_composite_keeps_known_pixels() -> None:
    net = GatedInpainter(channels=3, width=8)
    image, mask = torch.rand(2, 3, 20, 28), (torch.rand(2, 1, 20, 28) > 0.5).float()
    coarse = telea_fill(image, mask)
    with torch.no_grad():
        assert torch.equal(net(image, mask, coarse), coarse)  # the correction starts at zero
        torch.nn.init.normal_(net.out.weight, std=0.1)
        fill = net(image, mask, coarse)
    assert fill.shape == image.shape and not torch.equal(fill, coarse)
    assert 0 <= float(fill.min()) and float(fill.max()) <= 1
    out = composite(image, fill, mask)
    assert torch.equal(out[mask.expand_as(out) == 0], image[mask.expand_as(image) == 0])


@pytest.mark.parametrize("mode,size", [("RGB", (37, 53)), ("L", (64, 40)), ("RGBA", (120, 90))])
def test_pixels_outside_the_mask_are_returned_exactly(inpainter, mode, size) -> None:
    image = smooth_image(size[1], size[0], seed=1).convert(mode)
    mask = np.zeros((size[1], size[0]), bool)
    mask[5:20, 8:30] = True
    mask[-6:, -6:] = True  # a second hole at the corner
    out = inpainter.inpaint(image, mask)
    assert out.size == image.size and out.mode == image.mode
    before, after = np.asarray(image), np.asarray(out)
    assert np.array_equal(before[~mask], after[~mask])
    assert not np.array_equal(before[mask], after[mask])


def test_a_large_image_with_a_big_hole_is_filled_through_a_smaller_window(inpainter) -> None:
    image = smooth_image(300, 400, seed=2)
    mask = box_mask(image.size, (100, 80, 160, 120))
    out = np.asarray(inpainter.inpaint(image, mask))
    assert np.array_equal(out[~mask], np.asarray(image)[~mask])
    assert inpainter.predictor.work_side == 32  # 2 x the bundle's training crop: the window is shrunk to it


def test_empty_mask_returns_the_image_and_a_full_mask_is_refused(inpainter) -> None:
    image = smooth_image(32, 32, seed=3)
    assert np.array_equal(np.asarray(inpainter.inpaint(image, np.zeros((32, 32), bool))), np.asarray(image))
    with pytest.raises(EnhanceError, match="whole image"):
        inpainter.inpaint(image, np.ones((32, 32), bool))


def test_mask_of_another_shape_is_refused_and_of_another_size_resized_with_a_note(inpainter) -> None:
    image = smooth_image(40, 60, seed=4)  # 60x40
    with pytest.raises(EnhanceError, match="the mask is 40x40 px but the image is 60x40"):
        inpainter.inpaint(image, Image.new("L", (40, 40), 255))
    notes: list[str] = []
    half = Image.new("L", (30, 20), 0)
    half.paste(255, (5, 5, 15, 15))
    out = inpainter.inpaint(image, half, note=notes.append)
    assert out.size == (60, 40) and notes == ["the mask (30x20) was resized to the image's 60x40"]


def test_rgba_masks_are_read_by_alpha_only_when_partly_transparent() -> None:
    opaque = Image.new("RGBA", (4, 1), (0, 0, 0, 255))
    opaque.putpixel((1, 0), (255, 255, 255, 255))
    assert binary_mask(opaque, (4, 1)).tolist() == [[False, True, False, False]]
    layer = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    layer.putpixel((2, 0), (255, 0, 0, 255))  # a red stroke on a transparent layer
    assert binary_mask(layer, (4, 1)).tolist() == [[False, False, True, False]]


def test_grey_mask_is_thresholded_at_half() -> None:
    mask = Image.fromarray(np.array([[0, 127, 128, 255]], np.uint8))
    assert binary_mask(mask, (4, 1)).tolist() == [[False, False, True, True]]
    assert binary_mask(np.array([[0.2, 0.7]]), (2, 1)).tolist() == [[False, True]]


def test_hole_windows_grow_for_context_and_merge_when_close() -> None:
    hole = np.zeros((200, 200), bool)
    hole[20:30, 20:30] = True
    hole[150:160, 150:160] = True
    assert hole_windows(hole) == [(4, 46, 4, 46), (134, 176, 134, 176)]
    hole[40:50, 40:50] = True  # its window overlaps the first one's
    assert hole_windows(hole)[0] == (4, 66, 4, 66)


def test_box_outside_the_image_is_refused() -> None:
    from sightkit.errors import ConfigError

    with pytest.raises(ConfigError, match="inside the 10x8 image"):
        box_mask((10, 8), (12, 0, 3, 3))


def test_a_super_resolution_bundle_is_not_an_inpainter(bundle_factory) -> None:
    with pytest.raises(BundleError, match="'enhance' bundle, not a 'inpaint' bundle"):
        Inpainter.load(bundle_factory())


def test_evaluate_scores_model_and_opencv_inside_the_holes(inpainter, tmp_path: Path) -> None:
    folder = tmp_path / "eval"
    folder.mkdir()
    for i in range(2):
        smooth_image(48, 64, seed=10 + i).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    report = inpainter.evaluate(folder, tmp_path / "report", max_side=64)
    assert report["n"] == 2 and len(report["skipped"]) == 1
    assert set(report["buckets"]) == {"10-20%", "20-30%", "30-40%"}
    for methods in report["buckets"].values():
        assert set(methods) == {"model", "telea", "navier_stokes"}
        assert all(5 < methods[m]["psnr"] < 60 and -1 <= methods[m]["ssim"] <= 1 for m in methods)
        assert 0 <= methods["model"]["l1"] <= 1
    assert (tmp_path / "report" / "report.html").is_file()


def test_hole_metrics_look_only_inside_the_hole() -> None:
    from sightkit.tasks.enhance.inpaint.evaluate import hole_metrics

    white = np.full((16, 16, 3), 255, np.uint8)
    hole = np.zeros((16, 16), bool)
    hole[4:12, 4:12] = True
    black_hole = white.copy()
    black_hole[hole] = 0
    assert hole_metrics(black_hole, white, hole)["psnr"] == pytest.approx(0.0)
    assert hole_metrics(black_hole, white, hole)["l1"] == pytest.approx(1.0)
    damaged_outside = white.copy()
    damaged_outside[0, 0] = 0
    assert hole_metrics(damaged_outside, white, hole)["psnr"] == 100.0


def test_training_runs_both_stages_and_writes_loadable_bundles(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(4):
        smooth_image(40, 48, seed=i).save(folder / f"{i}.png")
    result = Inpainter.train(folder, out=tmp_path / "run", width=8, patch=16, batch_size=2, steps=2, epochs=1,
                             gan_epochs=1, disc_warmup_steps=1, val_fraction=0.25, progress=False, device="cpu")
    assert set(result.bundles) == {"l1", "gan"}
    assert (tmp_path / "run" / "gan" / "samples" / "epoch_000.png").is_file()
    model = Inpainter.load(result.bundles["gan"])
    assert model.meta["kind"] == "gan" and model.meta["training"]["steps_run"] > 0
    image = smooth_image(24, 24, seed=9)
    assert model.inpaint(image, box_mask(image.size, (4, 4, 8, 8))).size == (24, 24)
