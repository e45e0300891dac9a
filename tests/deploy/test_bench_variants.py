"""``bench``: every variant gets latency, throughput, size, memory and accuracy; outputs are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sightkit.deploy.bench import bench, time_calls, write_bench_outputs
from sightkit.errors import ConfigError


def test_bench_reports_every_variant(tiny_bundle: Path, colour_data: Path, tmp_path: Path) -> None:
    result = bench([tiny_bundle], batches=(1, 4), data=colour_data / "val", calib=colour_data / "train",
                   threads=1, warmup=1, repeats=3)
    assert result["threads"] == 1 and result["batches"] == [1, 4]
    assert [v["name"] for v in result["variants"]] == ["torch", "onnx", "onnx-int8"]
    for v in result["variants"]:
        assert set(v) >= {"name", "backend", "file_size_bytes", "file_size_mb", "peak_rss_mb", "accuracy",
                          "latency_ms", "throughput_ips"}
        assert set(v["latency_ms"]) == {"1", "4"} and set(v["latency_ms"]["1"]) == {"p50", "p95", "mean"}
        assert v["latency_ms"]["1"]["p95"] >= v["latency_ms"]["1"]["p50"] > 0
        assert v["throughput_ips"]["4"] > 0 and v["peak_rss_mb"] > 0
        assert v["accuracy"] == pytest.approx(1.0, abs=0.1)
    sizes = {v["name"]: v["file_size_bytes"] for v in result["variants"]}
    assert sizes["onnx-int8"] * 2.5 < sizes["onnx"]
    written = write_bench_outputs(result, tmp_path / "out")
    assert json.loads(written["json"].read_text())["variants"][0]["name"] == "torch"
    assert written["plot"].read_bytes()[:4] == b"\x89PNG"


def test_bench_of_an_onnx_file_and_two_sources(tiny_bundle: Path, tmp_path: Path) -> None:
    from sightkit.deploy.export import export_onnx

    onnx_file = export_onnx(tiny_bundle, tmp_path / "tiny.onnx").path
    result = bench([tiny_bundle, onnx_file], backends=["torch"], batches=(2,), warmup=0, repeats=2)
    assert [v["name"] for v in result["variants"]] == ["tiny:torch", "tiny"]
    assert all(v["accuracy"] is None for v in result["variants"])


def test_bench_option_errors(tiny_bundle: Path) -> None:
    with pytest.raises(ConfigError, match="--backends tflite"):
        bench([tiny_bundle], backends=["tflite"])
    with pytest.raises(ConfigError, match="--batch"):
        bench([tiny_bundle], backends=["torch"], batches=(0,))


def test_time_calls_is_round_robin_in_alternating_order() -> None:
    order: list[str] = []
    times = time_calls([lambda: order.append("a"), lambda: order.append("b")], warmup=1, repeats=3)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"] and len(times[1]) == 3


def test_bench_names_two_bundles_with_the_same_stem_by_their_folders(tiny_bundle: Path, tmp_path: Path) -> None:
    import shutil

    copy = shutil.copytree(tiny_bundle, tmp_path / "other" / tiny_bundle.name)
    result = bench([tiny_bundle, copy], backends=["torch"], batches=(1,), warmup=0, repeats=1)
    assert [v["name"] for v in result["variants"]] == [f"{tiny_bundle.parent.name}/tiny:torch", "other/tiny:torch"]
