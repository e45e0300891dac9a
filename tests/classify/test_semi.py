"""Tests of FixMatch semi-supervised training (``--unlabeled``): the loss, the two views, the folder checks,
and end-to-end training, resume and --max-minutes on tiny real digits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sightkit.data.discover import discover
from sightkit.errors import ConfigError, DataError
from sightkit.tasks.classify.config import make_config
from sightkit.tasks.classify.fixmatch import consistency_loss
from sightkit.tasks.classify.semi_data import TwoViews, find_unlabeled_images, load_unlabeled, strong_transform


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, Path]:
    """scikit-learn digits 0-2: DATA with 10 labelled images per class, and 36 more images in
    ``unlabeled/batch-a/`` (a nested folder whose name is no class), plus a hidden file."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits")
    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)
    seen = {0: 0, 1: 0, 2: 0}
    for i, label in enumerate(digits.target):
        if label not in seen or seen[label] >= 22:
            continue
        folder = root / "data" / str(label) if seen[label] < 10 else root / "unlabeled" / "batch-a"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i], mode="L").save(folder / f"{i:04d}.png")
        seen[label] += 1
    (root / "unlabeled" / ".thumbs.png").write_bytes(b"not an image")
    return root / "data", root / "unlabeled"


def test_consistency_loss_trains_the_strong_view_on_confident_weak_predictions_only():
    weak = torch.tensor([[5.0, 0.0, 0.0], [0.2, 0.1, 0.0], [0.0, 0.0, 9.0]], requires_grad=True)
    strong = torch.zeros(3, 3, requires_grad=True)
    loss, mask = consistency_loss(weak, strong, threshold=0.95)
    assert mask.tolist() == [1.0, 0.0, 1.0]  # softmax maxima 0.987, 0.367, 1.000
    loss.backward()
    assert weak.grad is None or not weak.grad.any()  # no gradient through the pseudo-labels
    assert strong.grad[1].abs().sum() == 0  # the unconfident image adds nothing
    assert strong.grad[2, 2] < 0  # the confident one is pulled towards its pseudo-label
    assert loss.item() == pytest.approx(float(mask.sum()) * np.log(3) / 3, rel=1e-5)


def test_two_views_are_a_weak_and_a_stronger_augmentation_of_the_same_image():
    torch.manual_seed(0)
    image = torch.arange(64, dtype=torch.uint8).reshape(1, 8, 8) * 4
    normalise = strong_transform([0.5], [0.25], size=8, hflip=False).transforms[-2:]
    plain = normalise[1](normalise[0](image))
    views = TwoViews(lambda x: plain, strong_transform([0.5], [0.25], size=8, hflip=False))
    stacked = torch.stack([views(image) for _ in range(20)])
    assert stacked.shape == (20, 2, 1, 8, 8) and stacked.dtype == torch.float32
    strong_change = (stacked[:, 1] - plain).abs().mean()
    assert strong_change > 0.1  # RandAugment + cutout change the image every time
    assert len({tuple(v.flatten().tolist()) for v in stacked[:, 1]}) > 15  # and differently each time


def test_unlabeled_images_are_found_recursively_without_hidden_files(digits):
    data, unlabeled = digits
    found = find_unlabeled_images(unlabeled, discover(data))
    assert len(found) == 36 and all(p.parent.name == "batch-a" for p in found)


def _no_images(root: Path, data: Path) -> Path:
    (_mkdir(root / "empty" / "sub") / "notes.txt").write_text("no images here")
    return root / "empty"


@pytest.mark.parametrize("make,expected", [
    (lambda root, data: root / "missing", "not found"),
    (lambda root, data: data / "0", "overlaps the labelled DATA"),
    (lambda root, data: data, "overlaps the labelled DATA"),
    (lambda root, data: data.parent, "overlaps the labelled DATA"),
    (_no_images, "no image files found"),
])
def test_unusable_unlabeled_folders_are_refused(digits, tmp_path, make, expected):
    data, _ = digits
    with pytest.raises(DataError, match=expected):
        find_unlabeled_images(make(tmp_path, data), discover(data))


def test_a_labelled_looking_unlabeled_folder_asks_which_is_meant(digits, tmp_path):
    data, _ = digits
    for name in ("1", "2"):
        _mkdir(tmp_path / "unl" / name)
        Image.new("L", (8, 8)).save(tmp_path / "unl" / name / "x.png")
    with pytest.raises(DataError, match=r"subfolders 1, 2 look like labelled data .* Is it labelled\?"):
        find_unlabeled_images(tmp_path / "unl", discover(data))


def test_undecodable_unlabeled_images_are_skipped_and_all_broken_is_an_error(digits, tmp_path):
    data, unlabeled = digits
    splits = discover(data)
    broken = _mkdir(tmp_path / "broken")
    (broken / "a.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="none of its 1 image files could be decoded"):
        load_unlabeled(broken, splits, "L", 8, [0.5], [0.25])
    (broken / "b.png").write_bytes((next((unlabeled / "batch-a").glob("*.png"))).read_bytes())
    loaded = load_unlabeled(broken, splits, "L", 8, [0.5], [0.25], hflip=False)
    assert loaded.summary()["images"] == 1 and loaded.summary()["skipped"] == 1 and "a.png" in loaded.skipped[0][1]
    views, label = loaded.dataset[0]
    assert views.shape == (2, 1, 8, 8) and label == -1


def test_fixmatch_options_need_unlabeled():
    with pytest.raises(ConfigError, match="--unlabeled-ratio is used only with --unlabeled FOLDER"):
        make_config(unlabeled_ratio=3)
    with pytest.raises(ConfigError, match="--unlabeled-conf"):
        make_config(unlabeled="u", unlabeled_conf=1.5)
    assert make_config(unlabeled="u", unlabeled_ratio=3).unlabeled_ratio == 3


def test_cli_trains_with_unlabeled_records_it_and_resumes(cli, digits, tmp_path):
    data, unlabeled = digits
    run = tmp_path / "run"
    code, out, err = cli("classify", "train", data, "--model", "skcnn_tiny", "--unlabeled", unlabeled,
                         "--unlabeled-ratio", "2", "--unlabeled-conf", "0.5", "--epochs", "2", "--batch-size",
                         "8", "--no-hflip", "--out", run, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["unlabeled"] == {"folder": str(unlabeled.resolve()), "images": 36, "skipped": 0}
    assert "unlabelled: 36 images" in err
    meta = json.loads((run / "model" / "bundle.json").read_text())
    assert meta["training"]["config"]["unlabeled"] == str(unlabeled)
    assert meta["training"]["config"]["unlabeled_ratio"] == 2
    assert meta["training"]["unlabeled"]["images"] == 36
    history = meta["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(0.0 <= h["mask_rate"] <= 1.0 and "unlabeled_loss" in h for h in history)

    code, out, err = cli("classify", "train", data, "--resume", "--out", run, "--epochs", "3", "--json")
    assert code == 0, err
    meta = json.loads((run / "model" / "bundle.json").read_text())
    assert json.loads(out)["epochs_run"] == 3 and meta["training"]["unlabeled"]["images"] == 36
    assert [h["epoch"] for h in meta["training"]["history"] if "mask_rate" in h] == [1, 2, 3]


def test_max_minutes_stops_a_fixmatch_run_with_a_bundle(digits, tmp_path):
    from sightkit import Classifier

    data, unlabeled = digits
    clf = Classifier.train(data, "skcnn_tiny", out=tmp_path / "run", epochs=50, batch_size=8, unlabeled=unlabeled,
                           max_minutes=0.0001, progress=False, status=lambda m: None)
    assert clf.meta["training"]["stopped"] == "max_minutes" and clf.meta["training"]["epochs_run"] < 50
    assert clf.meta["training"]["unlabeled"]["images"] == 36


def test_cli_refuses_bad_unlabeled_input_with_one_line(cli, digits, tmp_path):
    data, _ = digits
    code, out, err = cli("classify", "train", data, "--unlabeled", data, "--out", tmp_path / "r", "--no-progress")
    assert code == 2 and out == "" and err.strip().splitlines()[-1].startswith("error: --unlabeled")
    assert not (tmp_path / "r").exists()
    code, _, err = cli("classify", "train", data, "--lambda-u", "2", "--out", tmp_path / "r")
    assert code == 2 and "error: --lambda-u is used only with --unlabeled FOLDER" in err


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
