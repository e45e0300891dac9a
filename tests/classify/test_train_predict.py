"""End-to-end tests of the Classifier facade: train, save/load, predict, evaluate, resume.

One small run (skcnn_tiny, 3 epochs on 3 generated patterns) is trained once per module
and shared; tests that change a run copy it first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sightkit import Classifier
from sightkit.errors import ConfigError, DataError, ImageError

CLASSES = ("dark", "bright", "stripes")
TRAIN_OPTIONS = dict(epochs=3, batch_size=4, seed=0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, dataset_writer) -> Path:
    return dataset_writer(tmp_path_factory.mktemp("tp") / "data", per_class=20, size=12, classes=CLASSES)


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory) -> Classifier:
    run = tmp_path_factory.mktemp("run") / "run"
    return Classifier.train(data_dir, model="skcnn_tiny", out=run, progress=False, status=lambda m: None,
                            **TRAIN_OPTIONS)


@pytest.fixture(scope="module")
def probe_images(tmp_path_factory, pattern_maker) -> list[Path]:
    """Fresh images of each pattern (not in the training data), in CLASSES order."""
    folder = tmp_path_factory.mktemp("probe")
    rng = np.random.default_rng(99)
    paths = []
    for name in CLASSES:
        for i in range(2):
            path = folder / f"{name}_{i}.png"
            Image.fromarray(pattern_maker(name, 12, rng)).save(path)
            paths.append(path)
    return paths


def test_training_learns_the_patterns(trained: Classifier):
    report = trained.report
    assert trained.classes == sorted(CLASSES)
    assert report["split"] == "val" and report["n"] == 12  # 20% of 20 per class
    assert report["accuracy"] >= 0.9
    run = trained.path.parent
    for name in ("config.json", "splits.json", "checkpoints/last.ckpt", "checkpoints/best.ckpt",
                 "model/bundle.json", "model/weights.safetensors", "report/report.json", "report/report.html"):
        assert (run / name).is_file(), name


def test_bundle_meta_describes_the_model(trained: Classifier):
    meta = json.loads((trained.path / "bundle.json").read_text())
    assert meta["task"] == "classify"
    assert meta["architecture"] == {"name": "skcnn_tiny", "in_chans": 1, "num_classes": 3}
    assert meta["classes"] == ["bright", "dark", "stripes"]
    prep = meta["preprocessing"]
    assert (prep["size"], prep["mode"], prep["channels"]) == (16, "L", 1)  # grey 12x12 data, enlarged to the 16 px minimum
    assert prep["mean"] == [0.5] and prep["std"] == [0.25]
    temperature = meta["calibration"]["temperature"]
    assert isinstance(temperature, float) and temperature > 0
    assert temperature == trained.predictor.temperature
    assert meta["training"]["epochs_run"] == 3
    assert meta["training"]["config"]["model"] == "skcnn_tiny"
    assert meta["metrics"]["accuracy"] == trained.report["accuracy"]


def test_predictions_are_right_on_new_images(trained: Classifier, probe_images: list[Path]):
    results = trained.predict(probe_images, top_k=3)
    assert [r.path for r in results] == [str(p) for p in probe_images]
    assert [r.label for r in results] == [p.name.split("_")[0] for p in probe_images]


def _same_predictions(a, b) -> None:
    assert [(r.path, r.label, r.score, r.topk) for r in a] == [(r.path, r.label, r.score, r.topk) for r in b]


@pytest.mark.parametrize("target", ["folder", "model.sightkit"])
def test_bundle_round_trip_gives_identical_predictions(trained: Classifier, probe_images, tmp_path: Path,
                                                       target: str):
    before = trained.predict(probe_images, top_k=3)
    if target == "folder":
        loaded = Classifier.load(trained.path)
    else:
        path = trained.save(tmp_path / target)
        assert path.is_file()
        loaded = Classifier.load(path)
    assert loaded.classes == trained.classes and loaded.meta["calibration"] == trained.meta["calibration"]
    _same_predictions(loaded.predict(probe_images, top_k=3), before)
    batch = torch.stack([trained.predictor.preprocess(p) for p in probe_images])
    assert torch.equal(loaded.predictor.logits(batch), trained.predictor.logits(batch))


def test_topk_is_sorted_and_sums_to_one(trained: Classifier, probe_images):
    for result in trained.predict(probe_images, top_k=5):  # top_k is capped at the number of classes
        scores = [s for _, s in result.topk]
        assert len(result.topk) == 3 and {label for label, _ in result.topk} == set(CLASSES)
        assert scores == sorted(scores, reverse=True)
        assert result.score == scores[0] and result.label == result.topk[0][0]
        assert sum(scores) == pytest.approx(1.0, abs=1e-4)
    top1 = trained.predict(probe_images[:1], top_k=1)[0]
    assert len(top1.topk) == 1 and top1.to_dict()["topk"] == [{"label": top1.label, "score": top1.score}]


def test_min_confidence_gives_unknown(trained: Classifier, probe_images):
    results = trained.predict(probe_images, top_k=2)
    low = min(r.score for r in results)
    gated = trained.predict(probe_images, top_k=2, min_confidence=low + 1e-6)
    assert any(r.label == "unknown" for r in gated)
    for plain, gate in zip(results, gated):
        assert gate.label == ("unknown" if plain.score <= low else plain.label)
        assert gate.topk == plain.topk  # the top-k is still reported
    assert all(r.label == "unknown" for r in trained.predict(probe_images, min_confidence=1.0 + 1e-9))


def test_predict_on_a_folder_a_glob_and_in_memory_images(trained: Classifier, probe_images):
    folder = probe_images[0].parent
    by_folder = trained.predict(folder)
    assert sorted(r.path for r in by_folder) == sorted(str(p) for p in probe_images)
    by_glob = trained.predict(str(folder / "dark_*.png"))
    assert sorted(r.path for r in by_glob) == sorted(str(p) for p in probe_images if p.name.startswith("dark"))
    assert {r.label for r in by_glob} == {"dark"}
    array = np.asarray(Image.open(probe_images[2]))
    in_memory = trained.predict([array, Image.open(probe_images[4])])
    assert [r.label for r in in_memory] == ["bright", "stripes"]
    assert in_memory[0].path == "<image 0>"
    with pytest.raises(DataError, match="IMAGES .*nothing_\\*.png: no such file"):
        trained.predict(str(folder / "nothing_*.png"))


def test_unreadable_image(trained: Classifier, probe_images, tmp_path: Path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a jpeg")
    with pytest.raises(ImageError, match="bad.jpg: not a readable image"):
        trained.predict([probe_images[0], bad])
    results = trained.predict([probe_images[0], bad, probe_images[2]], skip_errors=True)
    assert [r.path for r in results] == [str(probe_images[0]), str(bad), str(probe_images[2])]
    assert results[1].error and "bad.jpg" in results[1].error
    assert results[1].label == "unknown" and results[1].topk == []
    assert results[0].error is None and results[2].label == "bright"
    assert "error" in results[1].to_dict() and "error" not in results[0].to_dict()


def test_evaluate_writes_a_report(trained: Classifier, data_dir: Path, tmp_path: Path):
    out = tmp_path / "report"
    report = trained.evaluate(data_dir, out)
    for key in ("accuracy", "macro_f1", "ece", "confusion_matrix", "temperature", "n"):
        assert key in report
    # the training data itself: only its recorded val split (no test split), never the 48 training images
    assert report["split"] == "val" and report["n"] == 12 and report["accuracy"] >= 0.9
    assert report["scored"] == f"recorded val split of {data_dir.resolve()}: 12 images"
    saved = json.loads((out / "report.json").read_text())
    assert saved["accuracy"] == report["accuracy"] and {"macro_f1", "ece"} <= set(saved)
    html = (out / "report.html").read_text()
    assert "accuracy" in html and "<img" in html
    assert "recorded val split" in html and "Training curves" in html and "skcnn_tiny" in html
    assert (out / "training_curves.png").is_file()


def test_evaluate_split_choices_and_overlap(trained: Classifier, data_dir: Path, tmp_path: Path):
    assert trained.evaluate(data_dir, split="all")["n"] == 60
    train_report = trained.evaluate(data_dir, split="train")
    assert train_report["split"] == "train" and train_report["n"] == 48
    assert "training images" in train_report["notes"][0]
    copy = shutil.copytree(data_dir, tmp_path / "copy")
    with pytest.raises(DataError, match=r"copy: 48 of its 60 images are training images of this model"):
        trained.evaluate(copy)
    allowed = trained.evaluate(copy, allow_train_images=True)
    assert allowed["n"] == 60 and allowed["training_images"] == 48 and allowed["split"] == "external"
    with pytest.raises(ConfigError, match="--split test: DATA is not the dataset this model was trained on"):
        trained.evaluate(copy, split="test")


def test_history_is_recorded_per_epoch_from_one(trained: Classifier):
    history = trained.meta["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(history[-1])
    assert trained.meta["training"]["stopped"] == "completed" and trained.meta["training"]["duration_s"] > 0


def test_evaluate_refuses_unknown_classes(trained: Classifier, tmp_path: Path, dataset_writer):
    other = dataset_writer(tmp_path / "other", per_class=2, classes=("dark", "stripes"), seed=7)
    (other / "stripes").rename(other / "zebra")
    with pytest.raises(DataError, match="classes unknown to the model: zebra"):
        trained.evaluate(other)


def test_resume_with_more_epochs_continues(trained: Classifier, data_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(trained.path.parent, run)
    first = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    clf = Classifier.train(data_dir, out=run, resume=True, epochs=4, progress=False, status=lambda m: None)
    meta = json.loads((run / "model/bundle.json").read_text())
    assert meta["training"]["epochs_run"] == 4
    assert meta["training"]["config"]["epochs"] == 4
    assert meta["training"]["config"]["batch_size"] == TRAIN_OPTIONS["batch_size"]  # the saved options
    assert meta["architecture"]["name"] == "skcnn_tiny"
    last = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    steps_per_epoch = first["global_step"] // 3
    assert last["global_step"] == first["global_step"] + steps_per_epoch  # one more epoch, not four
    assert clf.report["accuracy"] >= 0.9
    assert [h["epoch"] for h in meta["training"]["history"]] == [1, 2, 3, 4]  # the earlier epochs are kept


def test_resume_errors(data_dir: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="--resume needs --out"):
        Classifier.train(data_dir, resume=True)
    with pytest.raises(ConfigError, match=r"--resume: .*fresh has no checkpoints/last.ckpt"):
        Classifier.train(data_dir, out=tmp_path / "fresh", resume=True)


def test_bad_options_are_config_errors(data_dir: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match=r"--epochs: .*greater than or equal to 1 \(got 0\)"):
        Classifier.train(data_dir, epochs=0, out=tmp_path / "r")
    with pytest.raises(ConfigError, match="--bogus-option"):
        Classifier.train(data_dir, bogus_option=1, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()
