"""ONNX export: parity with torch, metadata inside the file, and clear failures that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
import torch.nn.functional as F
from deploy_helpers import bundle_meta

from sightkit.core.bundle import save_bundle
from sightkit.deploy.export import check_parity, export_model, export_onnx
from sightkit.deploy.onnx_meta import METADATA_KEY, read_metadata
from sightkit.errors import BundleError, ConfigError, DeployError
from sightkit.tasks.classify.model import create_model
from sightkit.tasks.classify.predict import Predictor


def test_builtin_cnn_exports_with_parity_and_metadata(tiny_bundle: Path, tmp_path: Path, colour_data: Path) -> None:
    samples = sorted((colour_data / "val").rglob("*.png"))[:4]
    result = export_onnx(tiny_bundle, tmp_path / "tiny.onnx", samples=samples)
    assert result.path.is_file() and result.opset == 17 and not result.dynamic_batch
    assert result.parity["max_abs_diff"] < 1e-3 and result.parity["top1_agreement"] == 1.0
    assert result.parity["n"] == 8 + 4
    model = onnx.load(str(result.path))
    assert model.opset_import[0].version == 17
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1  # fixed batch by default
    meta = read_metadata(result.path)
    assert meta["classes"] == ["green", "red", "stripes"]
    assert meta["preprocessing"]["size"] == 16 and meta["calibration"]["temperature"] == 1.2
    assert meta["export"]["parity"] == result.parity
    stored = {p.key: p.value for p in model.metadata_props}
    assert json.loads(stored[METADATA_KEY])["task"] == "classify"


def test_timm_resnet18_exports_with_dynamic_batch(tmp_path: Path) -> None:
    model = create_model("resnet18", 3, 3)
    bundle = save_bundle(tmp_path / "r18", model.state_dict(), bundle_meta("resnet18", size=32))
    result = export_onnx(bundle, tmp_path / "r18.onnx", dynamic_batch=True, opset=13)
    assert result.parity["top1_agreement"] == 1.0
    dim = onnx.load(str(result.path)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "batch"


def test_wrong_task_bundle_is_refused(tmp_path: Path) -> None:
    bundle = save_bundle(tmp_path / "sr", {"w": torch.zeros(1)}, {"task": "enhance"})
    with pytest.raises(DeployError, match="'enhance' bundle cannot be exported to onnx"):
        export_onnx(bundle, tmp_path / "sr.onnx")
    assert not (tmp_path / "sr.onnx").exists()


def test_unknown_format_and_opset_range(tiny_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--format 'tflite'"):
        export_onnx(tiny_bundle, tmp_path / "x", fmt="tflite")
    with pytest.raises(ConfigError, match="--opset 99"):
        export_onnx(tiny_bundle, tmp_path / "x.onnx", opset=99)
    assert list(tmp_path.iterdir()) == []


class _Attention(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).transpose(1, 2)
        return F.scaled_dot_product_attention(tokens, tokens, tokens).mean(1)


def test_opset_too_old_names_the_operator() -> None:
    predictor = Predictor(_Attention(), bundle_meta(size=4))
    with pytest.raises(DeployError, match=r"operator 'aten::scaled_dot_product_attention'.*opset 14"):
        export_model(predictor, opset=13)


def test_parity_failure_writes_nothing(tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sightkit.deploy.export as export_module

    real = export_module.OnnxBackend

    class _Skewed(real):
        def __call__(self, batch: torch.Tensor) -> torch.Tensor:
            return super().__call__(batch) + torch.arange(3.0) * 5

    monkeypatch.setattr(export_module, "OnnxBackend", _Skewed)
    with pytest.raises(DeployError, match="does not reproduce the model"):
        export_onnx(tiny_bundle, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


class _NearTie(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean((1, 2, 3))
        return torch.stack([m, m + 1e-6, torch.zeros_like(m)], 1)


def test_check_parity_treats_near_ties_as_agreement(monkeypatch: pytest.MonkeyPatch) -> None:
    import sightkit.deploy.export as export_module

    class _Swapped:  # ONNX Runtime's rounding picks the other of two tied classes
        def __init__(self, model: bytes) -> None:
            pass

        def __call__(self, batch: torch.Tensor) -> torch.Tensor:
            return _NearTie()(batch)[:, [1, 0, 2]]

    monkeypatch.setattr(export_module, "OnnxBackend", _Swapped)
    predictor = Predictor(_NearTie(), bundle_meta(size=4))
    parity = check_parity(predictor, b"", torch.ones(2, 3, 4, 4))
    assert parity["top1_agreement"] == 0.0 and parity["max_abs_diff"] < 1e-5


def test_read_metadata_of_a_plain_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.onnx"
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([], "g", [], [])), str(path))
    with pytest.raises(BundleError, match="no sightkit metadata"):
        read_metadata(path)
