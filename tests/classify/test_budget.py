"""The budget recipe (``--max-minutes`` without ``--epochs``), the weight EMA and test-time augmentation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sightkit import Classifier
from sightkit.data.discover import discover
from sightkit.engine.ema import ema_decay
from sightkit.errors import DataError
from sightkit.tasks.classify.budget import BUDGET_SHARE, WIDE_MODEL, plan_budget, wants_plan
from sightkit.tasks.classify.config import make_config
from sightkit.tasks.classify.tta import shift_pixels, tta_views


def test_only_a_budget_without_epochs_is_planned():
    assert wants_plan(make_config(max_minutes=5))
    assert not wants_plan(make_config(max_minutes=5, epochs=10))  # the user's epochs are kept
    assert not wants_plan(make_config())


def test_runs_the_plan_cannot_time_keep_their_epochs():
    from sightkit.tasks.classify.budget import unplanned_reason

    assert unplanned_reason(make_config(max_minutes=5), shards=False) is None
    assert "give --epochs" in unplanned_reason(make_config(max_minutes=5, unlabeled="pool"), shards=False)
    assert "one process" in unplanned_reason(make_config(max_minutes=5, devices=2), shards=False)
    assert "shards" in unplanned_reason(make_config(max_minutes=5), shards=True)


def test_plan_fills_the_budget_and_takes_the_wide_model_only_with_enough_epochs(tiny_dataset: Path):
    splits = discover(tiny_dataset, 0.25)
    small = plan_budget(splits, make_config(max_minutes=0.1), size=12, channels=1)
    assert small.updates["epochs"] >= 1 and "model" not in small.updates
    per_epoch = small.seconds_per_epoch["skcnn_small"]
    assert 0 < per_epoch < 5
    assert any(line.startswith("epochs ") and "measured" in line for line in small.reasons)
    big = plan_budget(splits, make_config(max_minutes=600), size=12, channels=1)
    assert big.updates["model"] == WIDE_MODEL and big.updates["epochs"] > small.updates["epochs"]
    assert big.reasons[0].startswith(f"model {WIDE_MODEL}")
    assert big.updates["augment"] == "strong" and big.reasons[1].startswith("augment strong: the budget gives")
    given = plan_budget(splits, make_config(max_minutes=600, model="skcnn_tiny"), size=12, channels=1)
    assert "model" not in given.updates and list(given.seconds_per_epoch) == ["skcnn_tiny"]


def test_a_budget_below_one_epoch_trains_one_and_says_so(tiny_dataset: Path):
    plan = plan_budget(discover(tiny_dataset, 0.25), make_config(max_minutes=0.001), size=12, channels=1)
    assert plan.updates == {"epochs": 1, "max_minutes": None}  # and the light augmentation
    assert "more than the 0.001-minute budget; training one epoch anyway" in plan.reasons[-2]


def test_budget_run_records_its_plan_and_says_why(tiny_dataset: Path, tmp_path: Path):
    lines: list[str] = []
    clf = Classifier.train(tiny_dataset, out=tmp_path / "run", max_minutes=0.08, batch_size=8, progress=False,
                           status=lines.append)
    plan = clf.meta["training"]["plan"]
    assert clf.meta["training"]["config"]["epochs"] == plan["updates"]["epochs"]
    assert [line for line in lines if line.startswith("budget: ")] == [f"budget: {r}" for r in plan["reasons"]]
    assert clf.meta["training"]["duration_s"] < 60


def test_one_image_per_class_is_refused_before_training(cli, tmp_path: Path, dataset_writer):
    data = dataset_writer(tmp_path / "one", per_class=1)
    code, out, err = cli("classify", "train", data, "--out", tmp_path / "run", "--no-progress")
    assert code == 2 and out == ""
    assert "no image is left for validation or testing" in err and "test split is empty" in err
    assert "add images" in err and not (tmp_path / "run").exists()
    with pytest.raises(DataError, match="smallest class has 1 image"):
        Classifier.train(data, out=tmp_path / "run2", progress=False)


def test_ema_decay_spans_a_twentieth_of_the_run():
    assert ema_decay(4000) == pytest.approx(0.995)
    assert ema_decay(100) == 0.9 and ema_decay(10**8) == 0.9999


def test_bundle_and_best_checkpoint_hold_the_ema_weights(tiny_dataset: Path, tmp_path: Path):
    from sightkit.core.bundle import load_bundle

    clf = Classifier.train(tiny_dataset, "skcnn_tiny", out=tmp_path / "run", epochs=2, batch_size=8, ema=True,
                           progress=False)
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    averaged, raw = checkpoint["state_dict"], checkpoint["current_model_state"]
    key = "model.head.2.weight"
    assert not torch.equal(averaged[key], raw[key])  # the average differs from the last raw weights
    state, _ = load_bundle(tmp_path / "run" / "model")
    assert torch.equal(state["head.2.weight"], averaged[key])
    assert clf.meta["training"]["config"]["ema"] is True


def test_without_ema_the_checkpoint_holds_the_raw_weights(tiny_dataset: Path, tmp_path: Path):
    Classifier.train(tiny_dataset, "skcnn_tiny", out=tmp_path / "run", epochs=1, batch_size=8,
                     progress=False)
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert "current_model_state" not in checkpoint


def test_ema_decay_needs_ema():
    from sightkit.errors import ConfigError

    with pytest.raises(ConfigError, match="--ema-decay is used only with --ema"):
        make_config(ema=False, ema_decay=0.99)


def test_test_time_views_are_the_image_its_shifts_and_their_mirrors():
    batch = torch.arange(2 * 16 * 16, dtype=torch.float32).view(2, 1, 16, 16)
    views = tta_views(batch, flip=True)
    assert len(views) == 6 and all(v.shape == batch.shape for v in views)
    assert torch.equal(views[0], batch) and torch.equal(views[3], batch.flip(-1))
    s = shift_pixels(16)
    assert s == 1 and torch.equal(views[1][..., s:, s:], batch[..., :-s, :-s])  # moved down-right by s
    assert torch.equal(views[2][..., :-s, :-s], batch[..., s:, s:])  # moved up-left by s
    assert len(tta_views(batch, flip=False)) == 3
    assert len(tta_views(torch.zeros(1, 3, 1, 1), flip=False)) == 3  # 1 px images: replicate padding


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset_writer) -> tuple[Classifier, Path]:
    root = tmp_path_factory.mktemp("tta")
    data = dataset_writer(root / "data", per_class=16, classes=("dark", "bright", "stripes"))
    clf = Classifier.train(data, "skcnn_tiny", out=root / "run", epochs=3, batch_size=8, test_fraction=0.25,
                           progress=False)
    return clf, data


def test_tta_evaluation_reports_with_and_without(trained):
    clf, data = trained
    plain = clf.evaluate(data)
    report = clf.evaluate(data, tta=True)
    assert report["tta"] == {"views": 6, "flip": True}
    assert report["without_tta"]["accuracy"] == pytest.approx(plain["accuracy"])
    assert report["n"] == plain["n"] and 0 <= report["accuracy"] <= 1
    assert "tta" not in plain and "without_tta" not in plain


def test_tta_logits_are_the_mean_of_the_views(trained):
    clf, data = trained
    predictor = clf.predictor
    batch = torch.stack([predictor.preprocess(p) for p in sorted((data / "stripes").iterdir())[:3]])
    views = predictor.view_logits(batch)
    assert views.shape == (3, 6, 3)
    assert torch.allclose(views[:, 0], predictor.logits(batch), atol=1e-5)
    probs = clf.predict_proba(sorted((data / "stripes").iterdir())[:3], tta=True)
    expected = torch.softmax(views.mean(1) / predictor.temperature, 1).numpy()
    assert probs == pytest.approx(expected, abs=1e-5)


def test_cli_tta(cli, trained, tmp_path: Path):
    clf, data = trained
    code, out, err = cli("classify", "evaluate", clf.path, data, "--tta", "--out", tmp_path / "report")
    assert code == 0 and "with --tta (6 views): accuracy" in out and "; without: accuracy" in out
    code, out, _ = cli("classify", "predict", clf.path, data / "dark", "--tta", "--json")
    assert code == 0 and '"label"' in out
    code, out, err = cli("classify", "predict", clf.path, data / "dark", "--tta", "--out", tmp_path / "p.csv")
    assert code == 0 and (tmp_path / "p.csv").is_file()
    rows = (tmp_path / "p.csv").read_text().splitlines()
    expected = clf.predict(sorted((data / "dark").iterdir()), tta=True)
    assert len(rows) == 1 + len(expected) and all(p.label in row for p, row in zip(expected, rows[1:]))


def test_a_time_limited_run_decays_its_learning_rate_by_the_clock(tmp_path: Path):
    import lightning.pytorch as pl

    from sightkit.tasks.classify.lit_module import ClassificationModule
    from sightkit.tasks.classify.model import create_model

    module = ClassificationModule(create_model("skcnn_tiny", 3), 3, make_config(max_minutes=1))
    module.trainer = pl.Trainer(max_time={"minutes": 1}, logger=False, default_root_dir=tmp_path)
    clock = module._budget_clock()
    timer = next(c for c in module.trainer.callbacks if isinstance(c, pl.callbacks.Timer))
    timer._offset = 27.0  # seconds of training so far (a resumed run starts from its saved share)
    assert clock() == pytest.approx(27 / (60 * BUDGET_SHARE))
    unlimited = ClassificationModule(create_model("skcnn_tiny", 3), 3, make_config())
    unlimited.trainer = pl.Trainer(max_epochs=1, logger=False, default_root_dir=tmp_path)
    assert unlimited._budget_clock() is None  # no --max-minutes: the step schedule alone
