"""AnomalyDetector on real digits: ones are normal, sevens and zeros score higher; threshold, heatmaps,
bundle round trip, a classify backbone, and the errors a user can make."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sightkit.core.bundle import read_extra, read_meta, save_bundle
from sightkit.errors import BundleError, ConfigError, DataError
from sightkit.tasks.anomaly.api import AnomalyDetector

SIZE = 16


def _auroc(normal: list[float], anomalous: list[float]) -> float:
    pairs = [(a > n) + 0.5 * (a == n) for a in anomalous for n in normal]
    return float(np.mean(pairs))


def test_patchcore_scores_other_digits_higher(patchcore_bundle: Path, digit_folders: dict) -> None:
    detector = AnomalyDetector.load(patchcore_bundle)
    normal = [r.score for r in detector.score(digit_folders["normal"])]
    anomalous = [r.score for r in detector.score(digit_folders["anomalous"])]
    assert _auroc(normal, anomalous) > 0.9
    assert detector.meta["method"] == "patchcore" and detector.meta["backbone"]["name"] == "random_wide"


def test_threshold_is_the_held_out_quantile_at_the_false_alarm_rate(patchcore_bundle: Path) -> None:
    detector = AnomalyDetector.load(patchcore_bundle)
    held_out = json.loads(read_extra(patchcore_bundle, "dataset.json"))["held_out"]
    scores = np.array([r.score for r in detector.score([Path(p) for p in held_out])])
    threshold = detector.meta["threshold"]
    assert len(scores) == threshold["held_out"] == 20  # 20% of 100
    assert detector.threshold == pytest.approx(np.quantile(scores, 0.95, method="higher"), rel=1e-5)
    assert (scores > detector.threshold + 1e-6).mean() <= 0.05
    assert threshold["held_out_false_alarm"] <= 0.05 and threshold["false_alarm"] == 0.05


def test_higher_false_alarm_rate_gives_a_lower_threshold(digit_folders: dict, tmp_path: Path) -> None:
    loose = AnomalyDetector.train(digit_folders["train"], out=tmp_path / "loose", size=SIZE, false_alarm=0.5)
    strict = AnomalyDetector.train(digit_folders["train"], out=tmp_path / "strict", size=SIZE, false_alarm=0.01)
    assert loose.threshold < strict.threshold
    held = [Path(p) for p in json.loads(read_extra(tmp_path / "loose", "dataset.json"))["held_out"]]
    flagged = np.mean([r.is_anomaly for r in loose.score(held)])
    assert 0.3 <= flagged <= 0.5


def test_score_threshold_override_heatmap_and_overlay(patchcore_bundle: Path, digit_folders: dict) -> None:
    detector = AnomalyDetector.load(patchcore_bundle)
    seven = sorted(digit_folders["anomalous"].glob("d7_*.png"))[0]
    result = detector.score(seven)[0]
    assert result.heatmap.shape == (SIZE, SIZE) and result.heatmap.max() <= result.score + 1e-5
    assert detector.score(seven, threshold=result.score + 1)[0].is_anomaly is False
    assert detector.score(seven, threshold=result.score - 1)[0].is_anomaly is True
    picture = result.overlay()
    assert picture.mode == "RGB" and picture.size[0] == 224
    assert set(result.to_dict()) == {"path", "score", "threshold", "anomaly"}


def test_bundle_round_trip_folder_and_zip(patchcore_bundle: Path, digit_folders: dict, tmp_path: Path) -> None:
    from sightkit.core.bundle import bundle_extras, load_bundle

    state, meta = load_bundle(patchcore_bundle, task="anomaly")
    assert state["memory_bank"].shape[1] == 384 and state["memory_bank"].shape[0] <= 0.1 * 80 * 16 + 1
    folder = save_bundle(tmp_path / "copy", state, meta, extras=bundle_extras(patchcore_bundle))
    images = sorted(digit_folders["normal"].glob("*.png"))[:5]
    first = [r.score for r in AnomalyDetector.load(patchcore_bundle).score(images)]
    again = [r.score for r in AnomalyDetector.load(folder).score(images)]
    assert first == pytest.approx(again, rel=1e-6)


def test_autoencoder_scores_other_digits_higher(digit_folders: dict, tmp_path: Path) -> None:
    detector = AnomalyDetector.train(digit_folders["train"], out=tmp_path / "ae.sightkit", method="autoencoder",
                                     size=SIZE, epochs=30)
    normal = [r.score for r in detector.score(digit_folders["normal"])]
    anomalous = detector.score(digit_folders["anomalous"])
    assert _auroc(normal, [r.score for r in anomalous]) > 0.85
    assert anomalous[0].heatmap.shape == (SIZE, SIZE)
    assert read_meta(tmp_path / "ae.sightkit")["training"]["loss_per_epoch"][-1] < \
        read_meta(tmp_path / "ae.sightkit")["training"]["loss_per_epoch"][0]


def test_anomalies_mixed_into_training_are_reported(digit_folders: dict, digits_writer, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    for path in sorted(digit_folders["train"].glob("*.png"))[:80]:
        (mixed / path.name).parent.mkdir(parents=True, exist_ok=True)
        (mixed / path.name).write_bytes(path.read_bytes())
    digits_writer(mixed, 0, 6, offset=100)
    messages: list[str] = []
    detector = AnomalyDetector.train(mixed, out=tmp_path / "mixed.sightkit", size=32, status=messages.append)
    suspects = [Path(s["path"]).name for s in detector.meta["training"]["suspects"]]
    zeros_fitted = [p for p in json.loads(read_extra(tmp_path / "mixed.sightkit", "dataset.json"))["fit"]
                    if Path(p).name.startswith("d0_")]
    assert zeros_fitted and all(Path(p).name in suspects for p in zeros_fitted)
    assert sum(name.startswith("d1_") for name in suspects) <= 2
    assert any(m.startswith("warning:") and "look unlike the rest" in m for m in messages)


def test_classify_bundle_as_backbone(digit_folders: dict, tmp_path: Path) -> None:
    from sightkit.tasks.classify.model import create_model

    torch.manual_seed(0)
    model = create_model("skcnn_tiny", num_classes=10, in_chans=1)
    meta = {"task": "classify", "architecture": {"name": "skcnn_tiny", "in_chans": 1}, "classes": list("0123456789"),
            "preprocessing": {"mode": "L", "size": SIZE, "mean": [0.5], "std": [0.25]}}
    classify_bundle = save_bundle(tmp_path / "clf", model.state_dict(), meta)
    detector = AnomalyDetector.train(digit_folders["train"], out=tmp_path / "bb", backbone=str(classify_bundle))
    assert detector.meta["backbone"]["kind"] == "classify" and detector.meta["preprocessing"]["size"] == SIZE
    result = AnomalyDetector.load(tmp_path / "bb").score(sorted(digit_folders["normal"].glob("*.png"))[0])[0]
    assert result.heatmap.shape == (SIZE, SIZE) and np.isfinite(result.score)
    with pytest.raises(BundleError, match="'anomaly' bundle, not a 'classify'"):
        AnomalyDetector.train(digit_folders["train"], out=tmp_path / "x", backbone=str(tmp_path / "bb"))
    with pytest.raises(BundleError, match="'classify' bundle, not a 'anomaly'"):
        AnomalyDetector.load(classify_bundle)
    with pytest.raises(ConfigError, match="--backbone is for --method patchcore"):
        AnomalyDetector.train(digit_folders["train"], out=tmp_path / "y", method="autoencoder",
                              backbone=str(classify_bundle))


def test_empty_missing_and_tiny_folders_are_clear_errors(tmp_path: Path, digits_writer) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="no readable image files found"):
        AnomalyDetector.train(tmp_path / "empty", out=tmp_path / "a")
    with pytest.raises(DataError, match="no such folder"):
        AnomalyDetector.train(tmp_path / "missing", out=tmp_path / "a")
    with pytest.raises(DataError, match="needs at least 10"):
        AnomalyDetector.train(digits_writer(tmp_path / "few", 1, 6), out=tmp_path / "a")
    assert not (tmp_path / "a").exists()
