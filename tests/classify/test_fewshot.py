"""Tests of ``--few-shot``: prototypes of an ``--init`` model's embeddings, saved as a normal classify bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sightkit.core.bundle import read_extra, save_bundle
from sightkit.errors import ConfigError
from sightkit.tasks.classify.api import Classifier
from sightkit.tasks.classify.prototypes import class_prototypes, leave_one_out_cosines
from sightkit.tasks.classify.model import create_model
from sightkit.tasks.classify.predict import expand_image_paths
from sightkit.tasks.classify.splits import RECORD_FILE

SIZE = 12


@pytest.fixture
def init_bundle(tmp_path: Path) -> Path:
    """A skcnn_tiny bundle with seeded random weights (grey, 12 px) for classes the data does not have."""
    torch.manual_seed(0)
    model = create_model("skcnn_tiny", num_classes=4, in_chans=1)
    meta = {"task": "classify", "architecture": {"name": "skcnn_tiny", "in_chans": 1, "num_classes": 4},
            "classes": ["a", "b", "c", "d"],
            "preprocessing": {"size": SIZE, "mode": "L", "channels": 1, "mean": [0.5], "std": [0.25]}}
    return save_bundle(tmp_path / "init", model.state_dict(), meta)


def test_prototypes_are_normalised_class_means():
    emb = torch.tensor([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    protos = class_prototypes(emb, torch.tensor([0, 1, 1]), 2)
    torch.testing.assert_close(protos[0], torch.tensor([1.0, 0.0]))
    expected = torch.nn.functional.normalize(torch.tensor([0.0, 1.0]) + torch.tensor([1.0, 1.0]) / 2 ** 0.5, dim=0)
    torch.testing.assert_close(protos[1], expected)


def test_leave_one_out_leaves_the_image_out_and_marks_lonely_ones():
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    cos = leave_one_out_cosines(emb, torch.tensor([0, 1, 0, 2]), 3)
    torch.testing.assert_close(cos[0], torch.tensor([1.0, 0.0, 0.6]))  # class 0 without row 0 is row 2
    assert cos[1].isnan().all() and cos[3].isnan().all()  # alone in classes 1 and 2


def test_few_shot_bundle_predicts_the_nearest_prototype(init_bundle, tmp_path, dataset_writer):
    data = dataset_writer(tmp_path / "data", per_class=6, size=SIZE, classes=("dark", "bright", "stripes"))
    clf = Classifier.train(data, out=tmp_path / "run", init=str(init_bundle), few_shot=True, test_fraction=0.5,
                           progress=False, status=lambda m: None)
    meta = clf.meta
    assert meta["training"]["epochs_run"] == 0 and meta["architecture"]["name"] == "skcnn_tiny"
    assert meta["training"]["splits"]["val"] == 0  # val joined the support images: the report is on test
    assert sum(meta["training"]["few_shot"]["support_per_class"].values()) == meta["training"]["splits"]["train"]
    assert clf.report["split"] == "test" and clf.report["n"] == 9

    # the same prototypes, computed from the --init bundle's own embeddings, pick the same classes
    files = expand_image_paths([data])
    labels = torch.tensor([clf.classes.index(f.parent.name) for f in files])
    record = json.loads(read_extra(clf.path, RECORD_FILE))
    support_names = {str(data / name) for name, _, _ in record["files"]["train"]}
    support = [i for i, f in enumerate(files) if str(f) in support_names]
    assert len(support) == 9
    emb = torch.from_numpy(Classifier.load(init_bundle).embed(files))
    nearest = (emb @ class_prototypes(emb[support], labels[support], 3).T).argmax(1)
    loaded = Classifier.load(clf.path)  # a normal bundle: predict / evaluate load it
    assert [p.label for p in loaded.predict(files)] == [clf.classes[i] for i in nearest]
    np.testing.assert_allclose(loaded.predict_proba(files).sum(1), 1.0, rtol=1e-5)
    assert loaded.evaluate(data)["split"] == "test"


def test_few_shot_needs_init_and_held_out_images(init_bundle, tmp_path, dataset_writer):
    data = dataset_writer(tmp_path / "data", per_class=3, size=SIZE)
    with pytest.raises(ConfigError, match="give --init"):
        Classifier.train(data, few_shot=True, progress=False)
    with pytest.raises(ConfigError, match="needs held-out images"):
        Classifier.train(data, out=tmp_path / "run", init=str(init_bundle), few_shot=True, val_fraction=0,
                         progress=False, status=lambda m: None)
    assert not (tmp_path / "run").exists()  # nothing half-made


@pytest.mark.parametrize("option", [{"target_sensitivity": 0.9}, {"devices": 2}])
def test_few_shot_refuses_options_it_would_ignore(init_bundle, tmp_path, dataset_writer, option):
    data = dataset_writer(tmp_path / "data", per_class=3, size=SIZE)
    with pytest.raises(ConfigError, match="--few-shot builds prototypes without training"):
        Classifier.train(data, out=tmp_path / "run", init=str(init_bundle), few_shot=True, progress=False,
                         status=lambda m: None, **option)
    assert not (tmp_path / "run").exists()
