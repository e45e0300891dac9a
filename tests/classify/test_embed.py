"""Tests of embeddings: ``Classifier.embed`` (penultimate layer, L2-normalised) and ``sightkit classify embed``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sightkit.core.bundle import save_bundle
from sightkit.tasks.classify.api import Classifier
from sightkit.tasks.classify.model import SkCNN, create_model, penultimate_features
from sightkit.tasks.classify.predict import expand_image_paths

SIZE = 12


@pytest.fixture
def bundle_and_images(tmp_path: Path, dataset_writer) -> tuple[Path, Path]:
    """A skcnn_tiny bundle (seeded random weights, grey 12 px) and 2 x 5 grey images."""
    torch.manual_seed(0)
    model = create_model("skcnn_tiny", num_classes=2, in_chans=1)
    meta = {"task": "classify", "architecture": {"name": "skcnn_tiny", "in_chans": 1, "num_classes": 2},
            "classes": ["bright", "dark"],
            "preprocessing": {"size": SIZE, "mode": "L", "channels": 1, "mean": [0.5], "std": [0.25]}}
    bundle = save_bundle(tmp_path / "model", model.state_dict(), meta)
    return bundle, dataset_writer(tmp_path / "images", per_class=5, size=SIZE)


def test_embed_gives_unit_rows_in_predict_order(bundle_and_images):
    bundle, images = bundle_and_images
    clf = Classifier.load(bundle)
    emb = clf.embed(images)
    assert emb.shape == (10, 64) and emb.dtype == np.float32  # skcnn_tiny's last width
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    files = expand_image_paths([images])
    np.testing.assert_allclose(clf.embed([files[3], files[0]]), emb[[3, 0]], atol=1e-6)
    assert [p.path for p in clf.predict(images)] == [str(f) for f in files]
    assert clf.predict_proba(images).shape == (10, 2)
    np.testing.assert_allclose(clf.predict_proba(images).sum(1), 1.0, rtol=1e-5)


def test_penultimate_features_feed_the_head():
    torch.manual_seed(0)
    model = SkCNN(3, 1, widths=(8, 16)).eval()
    x = torch.rand(4, 1, SIZE, SIZE)
    features = penultimate_features(model, x)
    assert features.shape == (4, 16)
    torch.testing.assert_close(model.head(features), model(x))  # the layer right before the classifier


def test_penultimate_features_of_a_timm_model():
    model = create_model("resnet18", num_classes=3, in_chans=3).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        features = penultimate_features(model, x)
        torch.testing.assert_close(model.get_classifier()(features), model(x))
    assert features.shape == (2, 512)


def test_cli_writes_npy_and_paths_file(bundle_and_images, cli, tmp_path):
    bundle, images = bundle_and_images
    out = tmp_path / "out" / "emb.npy"
    code, stdout, err = cli("classify", "embed", bundle, images, "--out", out)
    assert code == 0, err
    emb = np.load(out, allow_pickle=False)
    paths = (tmp_path / "out" / "emb.paths.txt").read_text().splitlines()
    assert emb.shape == (10, 64) and paths == [str(p) for p in expand_image_paths([images])]
    np.testing.assert_allclose(emb, Classifier.load(bundle).embed(images), atol=1e-6)
    assert "10 embeddings of dimension 64" in stdout


def test_cli_writes_parquet(bundle_and_images, cli, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    bundle, images = bundle_and_images
    code, _, err = cli("classify", "embed", bundle, images, "--out", tmp_path / "emb.parquet")
    assert code == 0, err
    table = pq.read_table(tmp_path / "emb.parquet")
    assert table.column_names == ["path", "embedding"] and table.num_rows == 10
    rows = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)


def test_cli_unreadable_image_has_no_row_and_exit_1(bundle_and_images, cli, tmp_path):
    bundle, images = bundle_and_images
    (images / "dark" / "broken.png").write_bytes(b"\x89PNG not really")
    code, stdout, err = cli("classify", "embed", bundle, images, "--out", tmp_path / "emb.npy", "--json")
    assert code == 1 and "broken.png" in err
    assert np.load(tmp_path / "emb.npy").shape == (10, 64)
    assert "broken.png" not in (tmp_path / "emb.paths.txt").read_text()


def test_cli_bad_out_suffix_is_one_error_line(bundle_and_images, cli, tmp_path):
    bundle, images = bundle_and_images
    code, stdout, err = cli("classify", "embed", bundle, images, "--out", tmp_path / "emb.csv")
    assert code == 2 and stdout == "" and not (tmp_path / "emb.csv").exists()
    assert err.strip().splitlines() == [f"error: --out {tmp_path / 'emb.csv'}: use a .npy or .parquet file name"]
