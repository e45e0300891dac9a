"""The deploy commands, run through Typer: JSON output, exit codes, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sightkit.cli import deploy
from sightkit.errors import DeployError


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    for name in ("export", "quantize", "prune", "distill", "bench"):
        app.command(name)(getattr(deploy, name))
    return app


def test_export_json(app: typer.Typer, tiny_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    result = CliRunner().invoke(app, ["export", str(tiny_bundle), "--out", str(out), "--dynamic-batch", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["path"] == str(out) and data["dynamic_batch"] and data["parity"]["top1_agreement"] == 1.0


def test_quantize_max_drop_refusal(app: typer.Typer, tiny_bundle: Path, colour_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.onnx"
    result = CliRunner().invoke(app, ["quantize", str(tiny_bundle), "--calib", str(colour_data / "train"),
                                      "--val", str(colour_data / "val"), "--calib-size", "8",
                                      "--max-drop", "-1", "--out", str(out)])
    assert isinstance(result.exception, DeployError) and "points of top-1" in str(result.exception)
    assert not out.exists()


def test_bench_json(app: typer.Typer, tiny_bundle: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", str(tiny_bundle), "--backends", "torch,onnx", "--batch", "1,2",
                                      "--repeats", "2", "--warmup", "0", "--threads", "1", "--json",
                                      "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [v["name"] for v in data["variants"]] == ["torch", "onnx"] and data["threads"] == 1
    assert (tmp_path / "b" / "bench.json").is_file()
