"""INT8 quantization: static QDQ with an accuracy report, dynamic, and refusals that write nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from sightkit.core.bundle import save_bundle
from sightkit.deploy.onnx_meta import read_metadata
from sightkit.deploy.quantize import quantize_bundle
from sightkit.errors import ConfigError, DataError, DeployError
from sightkit.tasks.classify.api import Classifier


def test_static_int8_reports_accuracy_and_runs(tiny_bundle: Path, colour_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny-int8.onnx"
    result = quantize_bundle(tiny_bundle, out, calib=colour_data / "train", val=colour_data / "val",
                             calib_size=32, dynamic_batch=True, max_drop=5.0)
    assert result.path == out and result.mode == "static" and result.method == "percentile"
    assert result.n_calibration == 32
    acc = result.accuracy
    assert acc is not None and acc["n"] == 24 and acc["fp32"] == 1.0
    assert acc["drop_points"] == pytest.approx(100 * (acc["fp32"] - acc["int8"]), abs=1e-3)
    assert result.to_dict()["size_ratio"] > 2.5
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    meta = read_metadata(out)
    assert meta["quantization"]["calibration_images"] == 32 and meta["quantization"]["accuracy"] == acc
    preds = Classifier.load(out).predict(sorted((colour_data / "val").rglob("*.png")))
    assert sum(p.path.split("/")[-2] == p.label for p in preds) >= 22


def test_accuracy_from_the_rest_of_a_labelled_calib_folder(tiny_bundle: Path, colour_data: Path,
                                                           tmp_path: Path) -> None:
    result = quantize_bundle(tiny_bundle, tmp_path / "q.onnx", calib=colour_data / "val", calib_size=8,
                             method="percentile")
    assert result.n_calibration == 8  # fixed batch 1: every sampled image is used
    assert result.accuracy is not None and result.accuracy["n"] == 24 - 8


@pytest.mark.slow
def test_entropy_calibration_chooses_its_own_ranges(tiny_bundle: Path, colour_data: Path, tmp_path: Path) -> None:
    from onnx import numpy_helper

    def scales(path: Path) -> dict:
        return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer if "scale" in t.name}

    for method in ("minmax", "entropy"):
        quantize_bundle(tiny_bundle, tmp_path / f"{method}.onnx", calib=colour_data / "train", calib_size=32,
                        dynamic_batch=True, method=method)
    minmax, entropy = scales(tmp_path / "minmax.onnx"), scales(tmp_path / "entropy.onnx")
    assert any(not np.allclose(minmax[k], entropy[k]) for k in minmax if k in entropy)


def test_dynamic_mode_needs_no_calibration(tiny_bundle: Path, colour_data: Path, tmp_path: Path) -> None:
    result = quantize_bundle(tiny_bundle, tmp_path / "dyn.onnx", mode="dynamic", val=colour_data / "val")
    assert result.mode == "dynamic" and result.method is None and result.n_calibration == 0
    assert result.accuracy is not None


def test_max_drop_refusal_prints_the_drop_and_writes_nothing(tiny_bundle: Path, colour_data: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "refused.onnx"
    with pytest.raises(DeployError, match=r"loses -?\d+\.\d\d points of top-1 .* above --max-drop -1"):
        quantize_bundle(tiny_bundle, out, calib=colour_data / "train", val=colour_data / "val",
                        calib_size=16, max_drop=-1.0)
    assert list(tmp_path.iterdir()) == []


def test_empty_calibration_folder(tiny_bundle: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="--calib .*no images found"):
        quantize_bundle(tiny_bundle, tmp_path / "q.onnx", calib=empty)
    assert not (tmp_path / "q.onnx").exists()


def test_option_errors(tiny_bundle: Path, colour_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs --calib"):
        quantize_bundle(tiny_bundle, tmp_path / "q.onnx")
    with pytest.raises(ConfigError, match="--method 'kl'"):
        quantize_bundle(tiny_bundle, tmp_path / "q.onnx", calib=colour_data, method="kl")
    with pytest.raises(ConfigError, match="--max-drop needs labelled images"):
        quantize_bundle(tiny_bundle, tmp_path / "q.onnx", mode="dynamic", max_drop=1.0)
    with pytest.raises(ConfigError, match="opset 13 or newer"):
        quantize_bundle(tiny_bundle, tmp_path / "q.onnx", calib=colour_data, opset=11)


def test_wrong_task_bundle(tmp_path: Path, colour_data: Path) -> None:
    bundle = save_bundle(tmp_path / "face", {"w": torch.zeros(1)}, {"task": "face"})
    with pytest.raises(DeployError, match="'face' bundle"):
        quantize_bundle(bundle, tmp_path / "q.onnx", calib=colour_data)
