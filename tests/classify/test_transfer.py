"""Tests of transfer: ``--init`` (bundle or run checkpoint), ``--freeze-backbone`` and ``--backbone-lr-scale``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sightkit.core.bundle import load_bundle, save_bundle
from sightkit.data.dataset import ImageDataset
from sightkit.data.discover import discover
from sightkit.data.transforms import build_eval_transform
from sightkit.errors import ConfigError, ModelError
from sightkit.tasks.classify.api import Classifier
from sightkit.tasks.classify.config import make_config
from sightkit.tasks.classify.model import create_model
from sightkit.tasks.classify.prototypes import class_prototypes, embed_samples
from sightkit.tasks.classify.transfer import (InitSource, backbone_lr_scale, freeze_backbone, head_keys, load_init,
                                              parameter_groups, prepare_start, read_init)

SIZE = 12
FAST = {"epochs": 1, "batch_size": 8, "workers": 0, "progress": False, "status": lambda m: None}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset_writer) -> Path:
    """A skcnn_tiny run trained for 1 epoch on grey dark/bright images: its run folder."""
    root = tmp_path_factory.mktemp("source")
    data = dataset_writer(root / "data", per_class=10, size=SIZE)
    Classifier.train(data, "skcnn_tiny", out=root / "run", img_size=SIZE, **FAST)
    return root / "run"


def _backbone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith("head.")}


def test_init_keeps_the_head_reordered_when_the_classes_match(trained):
    source = read_init(trained / "model")
    assert (source.kind, source.model, source.in_chans, source.classes) == ("bundle", "skcnn_tiny", 1,
                                                                            ["bright", "dark"])
    model = create_model("skcnn_tiny", 2, 1)
    note = load_init(model, source, ["dark", "bright"], 1)
    theirs = load_bundle(trained / "model")[0]
    ours = model.state_dict()
    assert "head too" not in note and "same 2 classes" in note
    assert head_keys(model) == {"head.2.weight", "head.2.bias"}
    torch.testing.assert_close(ours["head.2.weight"], theirs["head.2.weight"][[1, 0]])
    for key, value in _backbone(theirs).items():
        torch.testing.assert_close(ours[key], value)


def test_init_reinitialises_the_head_when_the_classes_differ(trained):
    model = create_model("skcnn_tiny", 3, 1)
    note = load_init(model, read_init(trained / "model"), ["bright", "dark", "stripes"], 1)
    assert "new zero head for 3 classes" in note
    assert not model.state_dict()["head.2.weight"].any() and not model.state_dict()["head.2.bias"].any()
    for key, value in _backbone(load_bundle(trained / "model")[0]).items():
        torch.testing.assert_close(model.state_dict()[key], value)


def test_a_new_head_is_imprinted_with_the_class_prototypes(trained, tmp_path, dataset_writer):
    data = dataset_writer(tmp_path / "new", per_class=4, size=SIZE, classes=("dark", "stripes"))
    splits = discover(data, val_fraction=0.0)
    model = create_model("skcnn_tiny", 2, 1)
    notes: list[str] = []
    config = make_config(model="skcnn_tiny", init=str(trained / "model"), img_size=SIZE)
    prepare_start(model, config, splits, 1, notes.append)
    assert notes[-1] == "init: head imprinted with the class means of 8 training images"
    assert model.training  # left as it was
    images = ImageDataset(splits.train, "L", SIZE, build_eval_transform([0.5], [0.25]))
    features, labels = embed_samples(model.eval(), images)
    rows = torch.nn.functional.normalize(model.state_dict()["head.2.weight"], dim=1)
    torch.testing.assert_close(rows, class_prototypes(features, labels, 2))


def test_train_from_a_bundle_takes_its_architecture_and_size(trained, tmp_path, dataset_writer):
    data = dataset_writer(tmp_path / "new", per_class=8, size=20, classes=("dark", "stripes"))
    notes: list[str] = []
    clf = Classifier.train(data, out=tmp_path / "run", init=str(trained / "model"), **{**FAST, "status": notes.append})
    assert any("head imprinted with the class means of" in note for note in notes)
    assert clf.meta["architecture"]["name"] == "skcnn_tiny"  # not the default skcnn_small
    assert clf.meta["preprocessing"]["size"] == SIZE  # the --init bundle's, not the data's 20 px
    assert clf.meta["training"]["config"]["init"] == str(trained / "model")
    assert {p.label for p in clf.predict(data)} <= {"dark", "stripes"}


def test_init_from_a_run_checkpoint(trained):
    ckpt = trained / "checkpoints" / "last.ckpt"
    source = read_init(ckpt)
    assert (source.kind, source.model, source.classes, source.img_size) == ("checkpoint", "skcnn_tiny",
                                                                            ["bright", "dark"], SIZE)
    model = create_model("skcnn_tiny", 2, 1)
    load_init(model, source, ["bright", "dark"], 1)
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    torch.testing.assert_close(model.state_dict()["head.2.weight"], saved["model.head.2.weight"])
    torch.testing.assert_close(model.state_dict()["features.0.0.weight"], saved["model.features.0.0.weight"])


def test_freeze_backbone_keeps_the_backbone_and_its_batchnorm_statistics(trained, tmp_path, dataset_writer):
    data = dataset_writer(tmp_path / "new", per_class=8, size=SIZE, classes=("dark", "stripes"))
    clf = Classifier.train(data, out=tmp_path / "run", init=str(trained / "model"), freeze_backbone=True,
                           **{**FAST, "epochs": 2})
    before = load_bundle(trained / "model")[0]
    after = load_bundle(clf.path)[0]
    assert any(k.endswith("running_mean") for k in _backbone(before))
    for key, value in _backbone(before).items():
        assert torch.equal(after[key], value), key
    assert not torch.equal(after["head.2.bias"], before["head.2.bias"])  # the head did train


def test_backbone_learning_rate_is_scaled_by_parameter_group(trained):
    model = create_model("skcnn_tiny", 3, 1)
    assert backbone_lr_scale(make_config(init=str(trained / "model"))) == 0.1
    assert backbone_lr_scale(make_config(init=str(trained / "model"), backbone_lr_scale=0.5)) == 0.5
    assert backbone_lr_scale(make_config()) == 1.0
    groups = parameter_groups(model, 1e-3, 0.05, 0.1)
    head = {id(p) for p in model.head.parameters()}
    for group in groups:
        is_head = {id(p) in head for p in group["params"]}
        assert len(is_head) == 1  # a group is all head or all backbone
        assert group["lr"] == pytest.approx(1e-3 if is_head.pop() else 1e-4)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert len(parameter_groups(model, 1e-3, 0.05, 1.0)) == 2  # as before --init: decay / no decay
    freeze_backbone(model)
    assert [len(g["params"]) for g in parameter_groups(model, 1e-3, 0.05, 0.1)] == [1, 1]  # head weight, bias


def test_init_refuses_another_task_architecture_or_channels(trained, tmp_path):
    other = save_bundle(tmp_path / "sr", {"w": torch.zeros(1)}, {"task": "enhance", "architecture": {}})
    with pytest.raises(ConfigError, match="'enhance' bundle; --init needs a classify bundle"):
        read_init(other)
    with pytest.raises(ConfigError, match="holds a skcnn_tiny model, not --model skcnn_small"):
        Classifier.train(tmp_path, "skcnn_small", init=str(trained / "model"), **FAST)
    wrong = InitSource(trained / "model", "bundle", "skcnn_small", 1, ["bright", "dark"], SIZE)
    with pytest.raises(ModelError, match="not a skcnn_small backbone"):
        load_init(create_model("skcnn_small", 2, 1), wrong, ["bright", "dark"], 1)
    with pytest.raises(ConfigError, match="takes grayscale images, but DATA is colour"):
        load_init(create_model("skcnn_tiny", 2, 3), read_init(trained / "model"), ["bright", "dark"], 3)
    with pytest.raises(ConfigError, match="not found"):
        read_init(tmp_path / "nothing")
    loose = tmp_path / "loose.ckpt"
    loose.write_bytes((trained / "checkpoints" / "last.ckpt").read_bytes())
    with pytest.raises(ConfigError, match="no config.json"):
        read_init(loose)


def test_option_combinations_that_make_no_sense():
    with pytest.raises(ConfigError, match="--freeze-backbone .* give --init"):
        make_config(freeze_backbone=True)
    with pytest.raises(ConfigError, match="--few-shot .* give --init"):
        make_config(few_shot=True)
    with pytest.raises(ConfigError, match="drop --weights"):
        make_config(init="a", weights="b")
    with pytest.raises(ConfigError, match="--backbone-lr-scale"):
        make_config(backbone_lr_scale=0)


def test_cli_init_error_is_one_line(cli, tmp_path, trained):
    code, out, err = cli("classify", "train", tmp_path, "--init", tmp_path / "missing")
    assert code == 2 and out == ""
    assert err.strip().startswith("error: --init") and len(err.strip().splitlines()) == 1
    code, _, err = cli("classify", "train", tmp_path, "--freeze-backbone")
    assert code == 2 and "give --init" in err
