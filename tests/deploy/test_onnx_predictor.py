"""The ONNX Runtime backend gives the same labels and scores as torch, from the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sightkit.cli import classify as classify_cli
from sightkit.deploy.export import export_onnx
from sightkit.deploy.onnx_predictor import OnnxBackend
from sightkit.errors import BundleError, ConfigError
from sightkit.tasks.classify.api import Classifier


@pytest.fixture(scope="module")
def tiny_onnx(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(tiny_bundle, tmp_path_factory.mktemp("onnx") / "tiny.onnx").path


def _images(n: int = 10) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, size=(20 + i, 24, 3), dtype=np.uint8) for i in range(n)]


def test_onnx_labels_and_scores_match_torch(tiny_bundle: Path, tiny_onnx: Path, colour_data: Path) -> None:
    sources = [*_images(), *sorted((colour_data / "val").rglob("*.png"))]
    torch_preds = Classifier.load(tiny_bundle).predict(sources, top_k=3, batch_size=4)
    onnx_clf = Classifier.load(tiny_onnx)  # .onnx -> ONNX Runtime by default
    assert isinstance(onnx_clf.predictor.model, OnnxBackend)
    onnx_preds = onnx_clf.predict(sources, top_k=3, batch_size=4)  # fixed batch 1 file, run in chunks
    assert [p.label for p in onnx_preds] == [p.label for p in torch_preds]
    for a, b in zip(torch_preds, onnx_preds):
        assert [label for label, _ in a.topk] == [label for label, _ in b.topk]
        assert np.allclose([s for _, s in a.topk], [s for _, s in b.topk], atol=1e-4)
    assert onnx_clf.classes == ["green", "red", "stripes"]


def test_fixed_batch_backend_chunks_and_pads(tiny_onnx: Path) -> None:
    backend = OnnxBackend(tiny_onnx)
    assert backend.fixed_batch == 1
    assert backend(torch.zeros(5, 3, 16, 16)).shape == (5, 3)


def test_cli_predict_with_onnx_backend(tiny_bundle: Path, tiny_onnx: Path, colour_data: Path) -> None:
    images = str(colour_data / "val")
    runner = CliRunner()
    by_torch = runner.invoke(classify_cli.app, ["predict", str(tiny_bundle), images, "--json"])
    by_onnx = runner.invoke(classify_cli.app, ["predict", str(tiny_onnx), images, "--json", "--backend", "onnx"])
    assert by_torch.exit_code == 0 and by_onnx.exit_code == 0, by_onnx.output
    labels = [[p["label"] for p in json.loads(r.stdout)] for r in (by_torch, by_onnx)]
    assert labels[0] == labels[1] and len(labels[0]) == 24


def test_onnx_classifier_cannot_be_saved_as_bundle(tiny_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot be saved as a bundle"):
        Classifier.load(tiny_onnx).save(tmp_path / "copy")


def test_unknown_backend_is_refused(tiny_bundle: Path) -> None:
    with pytest.raises(ConfigError, match="--backend 'tensorrt'"):
        Classifier.load(tiny_bundle, backend="tensorrt")
