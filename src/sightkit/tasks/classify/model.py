"""Classification architectures: the built-in ``skcnn_*`` family and any timm model by name.

The built-in family is a small ResNet-9-style CNN for 8-64 px images that trains fast on
a CPU. Every other name goes to ``timm.create_model``.

Example:
    >>> model = create_model("skcnn_small", num_classes=10, in_chans=1)  # doctest: +SKIP
    >>> model = create_model("resnet18", num_classes=5, weights="resnet18.safetensors")  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sightkit.errors import ModelError

BUILTIN_MODELS: dict[str, dict[str, Any]] = {
    "skcnn_tiny": {"widths": (16, 32, 64)},
    "skcnn_small": {"widths": (32, 64, 128)},
    "skcnn_base": {"widths": (64, 128, 256)},
}
DEFAULT_MODEL = "skcnn_small"


def _conv_bn_relu(in_chans: int, out_chans: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_chans),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, chans: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn_relu(chans, chans), _conv_bn_relu(chans, chans))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SkCNN(nn.Module):
    """A ResNet-9-style CNN: stem, then per stage conv + 2x2 max-pool + residual block.

    Pooling uses ``ceil_mode`` so inputs as small as 8x8 keep a non-empty feature map.
    ``features`` is the last convolutional block (the natural Grad-CAM layer).
    """

    def __init__(self, num_classes: int, in_chans: int = 3, widths: tuple[int, ...] = (32, 64, 128),
                 drop_rate: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(in_chans, widths[0])]
        prev = widths[0]
        for width in widths:
            layers += [_conv_bn_relu(prev, width), nn.MaxPool2d(2, ceil_mode=True), _Residual(width)]
            prev = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(drop_rate), nn.Linear(prev, num_classes))
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))

    def pre_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features that the head's linear layer reads: ``(N, widths[-1])``."""
        return self.pool(self.features(x)).flatten(1)


def penultimate_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The features before the classification layer: ``pre_logits`` of a built-in model, timm's
    ``forward_head(..., pre_logits=True)`` otherwise.

    Example:
        >>> penultimate_features(SkCNN(3, 1, widths=(8, 16)), torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 16])
    """
    if isinstance(model, SkCNN):
        return model.pre_logits(x)
    if hasattr(model, "forward_features") and hasattr(model, "forward_head"):
        return model.forward_head(model.forward_features(x), pre_logits=True)
    raise ModelError(f"{type(model).__name__}: cannot find its penultimate layer (not a built-in or timm model)")


def is_builtin(name: str) -> bool:
    """True for the names of the built-in ``skcnn_*`` family."""
    return name in BUILTIN_MODELS


def list_models(pattern: str = "*") -> list[str]:
    """Built-in names followed by timm names matching a glob ``pattern``."""
    import fnmatch

    import timm

    builtin = [n for n in BUILTIN_MODELS if fnmatch.fnmatch(n, pattern)]
    return builtin + timm.list_models(pattern)


def check_model_name(name: str) -> None:
    """Raise :class:`ModelError` with close suggestions when ``name`` is not a known model."""
    import timm

    if is_builtin(name) or timm.is_model(name):
        return
    close = difflib.get_close_matches(name, list_models(), n=5, cutoff=0.6)
    hint = f"did you mean: {', '.join(close)}?" if close else "see 'sightkit classify models'"
    raise ModelError(f"--model {name!r} is not a known model; {hint}")


def check_model_options(name: str, pretrained: bool = False, weights: str | Path | None = None) -> dict[str, Any]:
    """Check a model choice before any data is read; returns where pretrained weights come from.

    Raises :class:`ModelError` for an unknown name, ``pretrained`` for a built-in model, a
    missing ``weights`` file, or pretrained weights that are neither cached nor reachable
    (within seconds). The result is timm's ``pretrained_cfg_overlay`` (``{}``: download).

    Example:
        >>> check_model_options("skcnn_small")
        {}
    """
    check_model_name(name)
    if weights is not None and not Path(weights).exists():
        raise ModelError(f"--weights {weights}: file not found")
    if not pretrained:
        return {}
    if is_builtin(name):
        raise ModelError(f"--pretrained: the built-in {name} has no pretrained weights; use --weights FILE")
    from sightkit.tasks.classify.hub import pretrained_source

    return pretrained_source(name)


def create_model(name: str, num_classes: int, in_chans: int = 3, *, pretrained: bool = False,
                 weights: str | Path | None = None) -> nn.Module:
    """Build ``name`` with a fresh ``num_classes`` head; load ``weights`` (a local file) if given."""
    overlay = check_model_options(name, pretrained, weights)
    if is_builtin(name):
        model: nn.Module = SkCNN(num_classes, in_chans, **BUILTIN_MODELS[name])
    else:
        import timm

        try:
            model = timm.create_model(name, pretrained=pretrained, num_classes=num_classes, in_chans=in_chans,
                                      **({"pretrained_cfg_overlay": overlay} if overlay else {}))
        except Exception as exc:  # hub unreachable, missing weights, ...
            raise ModelError(f"--model {name}: could not create it ({exc}); offline, use --weights FILE") from None
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model: nn.Module, path: str | Path) -> dict[str, list[str]]:
    """Load a local state dict (safetensors, a sightkit bundle, or a torch file) into ``model``.

    Keys are matched after stripping ``module.``/``model.`` prefixes; tensors whose shape does
    not fit (e.g. another number of classes) are skipped. Torch files are read with
    ``weights_only=True``, so no code is unpickled. Returns the skipped and missing keys.
    """
    state = _read_state_dict(Path(path))
    own = model.state_dict()
    usable, skipped = {}, []
    for key, tensor in state.items():
        key = _strip_prefix(key)
        if key in own and own[key].shape == tensor.shape:
            usable[key] = tensor
        else:
            skipped.append(key)
    if not usable:
        raise ModelError(f"--weights {path}: no tensor matches this model; is it for another architecture?")
    missing = [k for k in own if k not in usable]
    model.load_state_dict(usable, strict=False)
    return {"skipped": skipped, "missing": missing}


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise ModelError(f"--weights {path}: file not found")
    if path.is_dir() or path.suffix == ".sightkit":
        from sightkit.core.bundle import load_bundle

        return load_bundle(path)[0]
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"--weights {path}: cannot read weights ({exc})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelError(f"--weights {path}: not a state dict")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _strip_prefix(key: str) -> str:
    for prefix in ("module.", "model.", "_orig_mod."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key


def native_input_size(name: str) -> int | None:
    """The input side a timm model was designed for (None for built-in models)."""
    if is_builtin(name):
        return None
    import timm

    cfg = timm.get_pretrained_cfg(name)
    return int(cfg.input_size[-1]) if cfg is not None else 224


def default_normalization(name: str, in_chans: int) -> tuple[list[float], list[float]]:
    """Mean/std for ``name``: the timm pretrained config, or ImageNet's; 0.5/0.25 for 1 channel."""
    if in_chans == 1:
        return [0.5], [0.25]
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    if not is_builtin(name):
        import timm

        cfg = timm.get_pretrained_cfg(name)
        if cfg is not None:
            mean, std = cfg.mean, cfg.std
    return list(mean)[:in_chans], list(std)[:in_chans]
