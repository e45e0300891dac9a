"""Detectors through ONNX: export with parity, metadata inside, the same boxes from ONNX Runtime, bench, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from sightkit.deploy.detect_export import match_detections
from sightkit.deploy.export import export_onnx
from sightkit.deploy.onnx_meta import read_metadata
from sightkit.errors import BundleError, ConfigError
from sightkit.tasks.detect.api import Detector


@pytest.fixture(scope="module")
def exported(trained: Path, shapes: Path, tmp_path_factory) -> Path:
    samples = sorted((shapes / "images").glob("*.png"))[:2]
    return export_onnx(trained, tmp_path_factory.mktemp("onnx") / "shapes.onnx", samples=samples).path


def _as_tensors(boxes: list, classes: list[str]) -> dict[str, torch.Tensor]:
    return {"boxes": torch.tensor([[b.x1, b.y1, b.x2, b.y2] for b in boxes]).reshape(-1, 4),
            "scores": torch.tensor([b.score for b in boxes]),
            "labels": torch.tensor([classes.index(b.label) for b in boxes])}


def test_export_writes_metadata_and_records_parity(exported: Path) -> None:
    meta = read_metadata(exported)
    assert meta["task"] == "detect" and meta["classes"] == ["circle", "square", "triangle"]
    assert meta["thresholds"] == {"score": 0.3, "nms": 0.5}
    assert meta["export"]["built_in"] == {"score_floor": 0.05, "nms": 0.5, "max_detections": 100}
    parity = meta["export"]["parity"]
    assert parity["images"] == 4 and parity["boxes"] > 0 and parity["matched"] == 1.0
    assert parity["max_box_diff_px"] < 0.05 and parity["max_score_diff"] < 1e-3


def test_onnx_runtime_gives_the_pytorch_boxes_on_any_image_size(trained: Path, exported: Path, shapes: Path) -> None:
    torch_detector, onnx_detector = Detector.load(trained), Detector.load(exported)
    assert onnx_detector.is_onnx and onnx_detector.classes == torch_detector.classes
    for size in ((64, 64), (200, 120), (90, 160)):
        image = Image.open(shapes / "images" / "00003.png").convert("RGB").resize(size)
        expected, got = torch_detector.predict(image, score=0.06), onnx_detector.predict(image, score=0.06)
        assert expected, "the tiny detector should find something to compare"
        counts = match_detections(_as_tensors(expected, torch_detector.classes),
                                  _as_tensors(got, torch_detector.classes), box_tolerance=0.01, score_tolerance=1e-4,
                                  cap=100)
        assert counts["matched"] == counts["boxes"] and len(got) == len(expected), size


def test_onnx_detector_refuses_thresholds_its_graph_cannot_honour(exported: Path) -> None:
    detector = Detector.load(exported)
    with pytest.raises(ConfigError, match="--nms 0.3: this ONNX file has class-wise NMS at IoU 0.5 built in"):
        detector.predict(Image.new("RGB", (64, 64)), nms=0.3)
    with pytest.raises(ConfigError, match="--score 0.01: this ONNX file keeps boxes scoring above 0.05"):
        detector.predict(Image.new("RGB", (64, 64)), score=0.01)
    with pytest.raises(BundleError, match="cannot be saved as a bundle"):
        detector.save(exported.with_suffix(".sightkit"))


def test_a_classifier_onnx_file_is_refused_by_the_detector(exported: Path, tmp_path: Path) -> None:
    import onnx

    from sightkit.deploy.onnx_meta import attach_metadata

    model = onnx.load(str(exported))
    other = attach_metadata(model, {**read_metadata(exported), "task": "classify"})
    onnx.save(other, str(tmp_path / "classifier.onnx"))
    with pytest.raises(BundleError, match="a 'classify' model, not a 'detect' model"):
        Detector.load(tmp_path / "classifier.onnx")


def test_cli_export_and_predict_through_onnx_match_the_bundle(cli, trained: Path, shapes: Path,
                                                              tmp_path: Path) -> None:
    code, out, err = cli("export", trained, "--out", tmp_path / "m.onnx")
    assert code == 0, err
    assert "wrote" in out and "boxes matched" in out
    results = []
    for model in (trained, tmp_path / "m.onnx"):
        code, out, err = cli("detect", "predict", model, shapes / "images", "--score", "0.1", "--json",
                             "--out", tmp_path / f"drawn-{Path(model).suffix or 'bundle'}")
        assert code == 0, err
        results.append([json.loads(line) for line in out.splitlines()])
    for a, b in zip(*results):
        assert len(a["boxes"]) == len(b["boxes"])
        for x, y in zip(a["boxes"], b["boxes"]):
            assert x["label"] == y["label"] and abs(x["score"] - y["score"]) <= 2e-4
            assert max(abs(x[k] - y[k]) for k in ("x1", "y1", "x2", "y2")) <= 0.1 + 1e-6


@pytest.mark.parametrize("args, expected", [
    (("--nms", "0.4"), "--nms 0.4: this ONNX file has class-wise NMS at IoU 0.5 built in"),
    (("--score", "0.0"), "--score 0.0: this ONNX file keeps boxes scoring above 0.05 only"),
])
def test_cli_onnx_threshold_errors_are_one_line(cli, exported: Path, shapes: Path, tmp_path: Path, args: tuple,
                                                expected: str) -> None:
    code, out, err = cli("detect", "predict", exported, shapes / "images", *args, "--out", tmp_path / "p")
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith(f"error: {expected}")
    assert not (tmp_path / "p").exists()


def test_cli_export_refuses_dynamic_batch_for_a_detector(cli, trained: Path, tmp_path: Path) -> None:
    code, _, err = cli("export", trained, "--dynamic-batch", "--out", tmp_path / "m.onnx")
    assert code == 2 and err.startswith("error: --dynamic-batch: a detector's ONNX file takes one image per call")
    assert not (tmp_path / "m.onnx").exists()


def test_bench_times_a_detector_per_frame_as_torch_and_onnx(cli, trained: Path, exported: Path) -> None:
    code, out, err = cli("bench", trained, exported, "--backends", "torch,onnx-int8", "--batch", "1",
                         "--warmup", "0", "--repeats", "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [v["backend"] for v in result["variants"]] == ["torch", "onnx"]
    assert all(v["latency_ms"]["1"]["p50"] > 0 and v["accuracy"] is None for v in result["variants"])
    assert "1920x1080" in result["input"] and "onnx-int8 skipped" in err


def test_bench_refuses_accuracy_data_for_detectors(cli, trained: Path, shapes: Path) -> None:
    code, _, err = cli("bench", trained, "--data", shapes)
    assert code == 2 and "detectors are timed only" in err


def _distinct_scores(model: torch.nn.Module) -> torch.nn.Module:
    """Random normalisation statistics, so an untrained detector scores its boxes apart (freshly built
    ones often score thousands alike, leaving nothing to compare)."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) * 1.5 + 0.5)
            module.bias.data.copy_(torch.randn(module.bias.shape, generator=generator) * 0.3)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ssdlite_mobilenet_v3", "fasterrcnn_mobilenet_v3_320", "retinanet_mobilenet_v3",
                                  "fcos_mobilenet_v3"])
def test_every_detector_family_exports_with_parity(name: str, tmp_path: Path) -> None:
    from sightkit.core.bundle import save_bundle
    from sightkit.tasks.detect.model import build_detector

    torch.manual_seed(0)
    model = _distinct_scores(build_detector(name, 2, 96))
    meta = {"task": "detect", "classes": ["a", "b"], "thresholds": {"score": 0.3, "nms": 0.5},
            "architecture": {"name": name, "num_classes": 2, "image_size": 96}}
    bundle = save_bundle(tmp_path / name, model.state_dict(), meta)
    result = export_onnx(bundle, tmp_path / f"{name}.onnx")
    assert result.parity["matched"] == 1.0
    image = Image.effect_noise((150, 100), 60).convert("RGB")
    expected, got = Detector.load(bundle).predict(image, score=0.06), Detector.load(result.path).predict(image,
                                                                                                         score=0.06)
    assert len(expected) == len(got)
