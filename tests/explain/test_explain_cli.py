"""``sightkit explain`` and ``classify predict --explain``: files written, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from sightkit.cli import classify
from sightkit.cli.explain import explain
from sightkit.errors import ConfigError

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(explain)
    return app


def test_explain_writes_overlays_maps_and_index(tiny_bundle, patch_dataset, tmp_path):
    images = sorted((patch_dataset / "left").glob("*.png"))[:3]
    out = tmp_path / "why"
    result = runner.invoke(_app(), [str(tiny_bundle), *map(str, images), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["n"] == 3 and "mean_deletion_auc" in data["summary"]
    assert len(list(out.glob("*-gradcam.png"))) == 3 and len(list(out.glob("*-gradcam.npy"))) == 3
    assert (out / "index.html").is_file() and (out / "explanations.json").is_file()
    assert np.load(out / data["images"][0]["files"]["map"]).shape == (16, 16)


def test_explain_reports_unreadable_images_and_exits_1(tiny_bundle, patch_dataset, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    image = sorted((patch_dataset / "right").glob("*.png"))[0]
    result = runner.invoke(_app(), [str(tiny_bundle), str(image), str(broken), "--out", str(tmp_path / "o"),
                                    "--method", "saliency", "--no-faithfulness"])
    assert result.exit_code == 1 and "broken.png" in result.output.replace("\n", "")  # rich wraps long paths
    assert len(list((tmp_path / "o").glob("*.png"))) == 1


@pytest.mark.parametrize(("option", "message"), [
    (["--target", "zebra"], "not a class of this model; use 'top' or one of: left, right, none"),
    (["--layer", "nope"], "features.6 (4x4), features.7 (4x4), features.9 (2x2), features (2x2)"),
    (["--method", "lime"], "choose one of gradcam, guided_gradcam"),
])
def test_explain_bad_options_are_one_clear_error(tiny_bundle, patch_dataset, tmp_path, option, message):
    image = sorted((patch_dataset / "left").glob("*.png"))[0]
    result = runner.invoke(_app(), [str(tiny_bundle), str(image), "--out", str(tmp_path / "o"), *option])
    assert isinstance(result.exception, ConfigError) and message in str(result.exception)


def test_predict_explain_writes_overlays_next_to_predictions(tiny_bundle, patch_dataset, tmp_path):
    images = sorted((patch_dataset / "right").glob("*.png"))[:2]
    out = tmp_path / "overlays"
    result = runner.invoke(classify.app, ["predict", str(tiny_bundle), *map(str, images), "--json", "--explain",
                                          "--explain-dir", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert all(Image.open(row["overlay"]).size[0] == 224 for row in rows)
    assert (out / "index.html").is_file()
