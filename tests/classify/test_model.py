"""Tests of the classification model registry: building, forward passes, names, weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sightkit.core.bundle import save_bundle
from sightkit.errors import ModelError
from sightkit.tasks.classify.model import (
    BUILTIN_MODELS,
    SkCNN,
    check_model_name,
    create_model,
    default_normalization,
    list_models,
    load_weights,
)


@pytest.mark.parametrize("name", sorted(BUILTIN_MODELS))
@pytest.mark.parametrize("size", [8, 16, 32])
@pytest.mark.parametrize("in_chans", [1, 3])
def test_builtin_models_build_and_run(name: str, size: int, in_chans: int):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, in_chans=in_chans).eval()
    assert isinstance(model, SkCNN)
    with torch.no_grad():
        out = model(torch.randn(2, in_chans, size, size))
    assert out.shape == (2, 5) and torch.isfinite(out).all()


def test_builtin_models_train_a_step():
    model = create_model("skcnn_tiny", num_classes=3, in_chans=1).train()
    out = model(torch.randn(4, 1, 12, 12))
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 0])).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_timm_model_builds():
    model = create_model("resnet18", num_classes=3, in_chans=1).eval()
    assert model.conv1.in_channels == 1
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 3)


def test_list_models_puts_builtins_first():
    names = list_models()
    assert names[: len(BUILTIN_MODELS)] == list(BUILTIN_MODELS)
    assert "resnet18" in names
    assert list_models("skcnn_t*") == ["skcnn_tiny"]


@pytest.mark.parametrize("wrong,suggested", [("resnet81", "resnet18"), ("skcnn_tiyn", "skcnn_tiny")])
def test_unknown_model_suggests_close_names(wrong: str, suggested: str):
    with pytest.raises(ModelError, match=rf"--model '{wrong}' is not a known model; did you mean: .*{suggested}"):
        create_model(wrong, num_classes=2)
    with pytest.raises(ModelError, match=suggested):
        check_model_name(wrong)


def test_unknown_model_far_from_any_name():
    with pytest.raises(ModelError, match="see 'sightkit classify models'"):
        check_model_name("zzzzqqqq")


def test_pretrained_builtin_is_refused():
    with pytest.raises(ModelError, match="--pretrained: the built-in skcnn_tiny has no pretrained weights"):
        create_model("skcnn_tiny", num_classes=2, pretrained=True)


def test_default_normalization():
    assert default_normalization("skcnn_tiny", 1) == ([0.5], [0.25])
    mean, std = default_normalization("skcnn_tiny", 3)
    assert mean == pytest.approx([0.485, 0.456, 0.406]) and std == pytest.approx([0.229, 0.224, 0.225])


# --- load_weights ---------------------------------------------------------------------------

def _source_model(num_classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(123)
    model = create_model("skcnn_tiny", num_classes=num_classes, in_chans=1)
    with torch.no_grad():  # make BatchNorm buffers differ from a fresh model's too
        for name, buf in model.named_buffers():
            if buf.dtype.is_floating_point:
                buf.add_(torch.rand_like(buf))
    return model


def _assert_loaded(target: torch.nn.Module, source: torch.nn.Module) -> None:
    src = source.state_dict()
    for key, value in target.state_dict().items():
        assert torch.equal(value, src[key]), key


def test_load_weights_from_safetensors(tmp_path: Path):
    source = _source_model()
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    target = create_model("skcnn_tiny", num_classes=3, in_chans=1, weights=path)
    _assert_loaded(target, source)


def test_load_weights_from_torch_file_with_prefix_and_other_head(tmp_path: Path):
    source = _source_model(num_classes=10)
    path = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}, "epoch": 3}, path)
    target = create_model("skcnn_tiny", num_classes=3, in_chans=1)
    head_before = target.head[2].weight.clone()
    report = load_weights(target, path)
    assert sorted(report["skipped"]) == ["head.2.bias", "head.2.weight"]  # 10 classes do not fit 3
    assert sorted(report["missing"]) == ["head.2.bias", "head.2.weight"]
    assert torch.equal(target.head[2].weight, head_before)  # the fresh head is kept
    body = {k: v for k, v in source.state_dict().items() if not k.startswith("head.")}
    own = target.state_dict()
    assert all(torch.equal(own[k], v) for k, v in body.items())


def test_load_weights_from_a_bundle(tmp_path: Path):
    source = _source_model()
    for name in ("model", "model.sightkit"):
        path = save_bundle(tmp_path / name, source.state_dict(), {"task": "classify"})
        target = create_model("skcnn_tiny", num_classes=3, in_chans=1)
        assert load_weights(target, path) == {"skipped": [], "missing": []}
        _assert_loaded(target, source)


def test_load_weights_errors(tmp_path: Path):
    model = create_model("skcnn_tiny", num_classes=3, in_chans=1)
    with pytest.raises(ModelError, match=r"--weights .*none.pth: file not found"):
        load_weights(model, tmp_path / "none.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match=r"--weights .*junk.pth: cannot read weights"):
        load_weights(model, tmp_path / "junk.pth")
    other = create_model("skcnn_tiny", num_classes=3, in_chans=3)  # 3-channel stem, but the rest fits
    save_file({"x.weight": torch.zeros(2)}, str(tmp_path / "alien.safetensors"))
    with pytest.raises(ModelError, match="alien.safetensors: no tensor matches this model"):
        load_weights(other, tmp_path / "alien.safetensors")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ModelError, match="list.pt: not a state dict"):
        load_weights(model, tmp_path / "list.pt")


def test_torch_file_with_code_is_not_unpickled(tmp_path: Path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"state_dict": {"a": Evil()}}, tmp_path / "evil.pth")
    model = create_model("skcnn_tiny", num_classes=3, in_chans=1)
    with pytest.raises(ModelError, match="evil.pth: cannot read weights"):
        load_weights(model, tmp_path / "evil.pth")
