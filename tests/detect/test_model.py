"""Detectors: every registered one builds and runs, local weights load with class layers re-initialised, metrics."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from sightkit.errors import ModelError
from sightkit.tasks.detect.metrics import detection_metric, metric_prediction, metric_target, summarise
from sightkit.tasks.detect.model import DETECTORS, build_detector, load_weights


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if "resnet50" in n else n for n in DETECTORS])
def test_every_registered_detector_builds_and_detects(name: str) -> None:
    torch.manual_seed(0)
    model = build_detector(name, num_classes=2, image_size=64).eval()
    with torch.no_grad():
        out = model([torch.rand(3, 48, 64)])
    assert set(out[0]) >= {"boxes", "scores", "labels"}
    assert out[0]["boxes"].shape[1] == 4


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(ModelError, match="--model 'yolov8': choose one of fcos_resnet18"):
        build_detector("yolov8", 2, 64)


def test_weights_load_by_name_and_class_layers_are_reinitialised(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    source = build_detector("fcos_resnet18", num_classes=5, image_size=64)
    save_file(source.state_dict(), tmp_path / "five.safetensors")
    torch.save(source.state_dict(), tmp_path / "five.pth")
    target = build_detector("fcos_resnet18", num_classes=2, image_size=64)
    for name in ("five.safetensors", "five.pth"):
        counts = load_weights(target, tmp_path / name)
        assert counts["reinitialised"] == 2  # the class logits' weight and bias
        assert counts["loaded"] == counts["total"] - 2
    same = target.backbone.body.conv1.weight
    assert torch.equal(same, source.backbone.body.conv1.weight)


def test_backbone_weights_of_a_classifier_load_under_the_backbone(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    classifier = resnet18()
    torch.save(classifier.state_dict(), tmp_path / "imagenet.pth")
    model = build_detector("fcos_resnet18", 2, 64)
    counts = load_weights(model, tmp_path / "imagenet.pth")
    assert counts["loaded"] > 50 and torch.equal(model.backbone.body.layer1[0].conv1.weight,
                                                 classifier.layer1[0].conv1.weight)


class _Payload:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_pickled_code_and_unrelated_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"w": _Payload()}))
    with pytest.raises(ModelError, match="not a plain PyTorch state dict"):
        load_weights(build_detector("fcos_resnet18", 2, 64), tmp_path / "evil.pth")
    torch.save({"unrelated": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ModelError, match="none of its 1 tensors fits"):
        load_weights(build_detector("fcos_resnet18", 2, 64), tmp_path / "other.pth")
    with pytest.raises(ModelError, match="no such file"):
        load_weights(build_detector("fcos_resnet18", 2, 64), tmp_path / "missing.pth")


def test_map_is_one_for_perfect_boxes_and_crowd_boxes_are_ignored() -> None:
    metric = detection_metric(extended=True)
    truth = {"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]]),
             "labels": torch.tensor([1, 2, 0]), "iscrowd": torch.tensor([0, 0, 1])}
    # Perfect boxes, plus a confident detection inside the class-less ignore region: not a false positive.
    found = {"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40], [51, 51, 59, 59]]),
             "scores": torch.tensor([0.9, 0.8, 0.95]), "labels": torch.tensor([1, 2, 1])}
    metric.update([metric_prediction(found)], [metric_target(truth, 2)])
    summary = summarise(metric.compute(), ["a", "b"])
    assert summary["map"] == 1.0 and summary["map_50"] == 1.0
    assert summary["per_class"]["a"]["ap_50"] == 1.0 and summary["per_class"]["b"]["ap"] == 1.0
