"""Channel recipes: how a pruned model's layers differ from its registered architecture.

Structured pruning shrinks the channels of convolutions, norms and linear layers, so a
pruned model no longer matches ``create_model(name)``. The bundle records, per changed
layer, its new sizes (``{"features.0.0": {"in": 3, "out": 16, "groups": 1}}``); loading
builds the registered model, resizes those layers, then loads the weights. Nothing is
unpickled.

Example:
    >>> recipe = channel_recipe(pruned, create_model("skcnn_small", 10))  # doctest: +SKIP
    >>> model = create_model("skcnn_small", 10)                            # doctest: +SKIP
    >>> apply_channel_recipe(model, recipe); model.load_state_dict(pruned.state_dict())  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from sightkit.errors import BundleError, ModelError

LayerSpec = dict[str, int]


def channel_recipe(model: nn.Module, reference: nn.Module) -> dict[str, LayerSpec]:
    """The layers of ``model`` whose sizes differ from ``reference`` (same architecture, unpruned).

    Raises :class:`ModelError` when a changed layer is of a kind the recipe cannot describe.
    """
    ref = dict(reference.named_modules())
    recipe: dict[str, LayerSpec] = {}
    for name, module in model.named_modules():
        other = ref.get(name)
        if other is None:
            raise ModelError(f"layer {name!r} is not in the registered architecture; it cannot be recorded")
        spec = _spec(module)
        if spec is not None:
            if spec != _spec(other):
                recipe[name] = spec
        elif _own_shapes(module) != _own_shapes(other):
            raise ModelError(f"layer {name!r} ({type(module).__name__}) changed size, which sightkit cannot "
                             "record; prune a CNN made of Conv/BatchNorm/Linear/LayerNorm layers")
    return recipe


def apply_channel_recipe(model: nn.Module, recipe: dict[str, LayerSpec]) -> nn.Module:
    """Resize the layers named in ``recipe`` in place (weights uninitialised; load a state dict next)."""
    modules = dict(model.named_modules())
    for name, spec in recipe.items():
        module = modules.get(name)
        if module is None or _spec(module) is None:
            raise BundleError(f"bundle.json: channel recipe names layer {name!r}, which this architecture "
                              "lacks; the bundle was made by another sightkit or edited by hand")
        _resize(module, spec)
    return model


def _spec(module: nn.Module) -> LayerSpec | None:
    if isinstance(module, _ConvNd) and not module.transposed:
        return {"in": module.in_channels, "out": module.out_channels, "groups": module.groups}
    if isinstance(module, _BatchNorm):
        return {"features": module.num_features}
    if isinstance(module, nn.Linear):
        return {"in": module.in_features, "out": module.out_features}
    if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1:
        return {"features": module.normalized_shape[0]}
    return None


def _own_shapes(module: nn.Module) -> list[tuple[int, ...]]:
    tensors = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
    return [tuple(t.shape) for _, t in tensors if t is not None]


def _resize(module: nn.Module, spec: LayerSpec) -> None:
    if isinstance(module, _ConvNd):
        module.in_channels, module.out_channels, module.groups = spec["in"], spec["out"], spec["groups"]
        module.weight = nn.Parameter(torch.empty(spec["out"], spec["in"] // spec["groups"], *module.kernel_size))
        _resize_vector(module, "bias", spec["out"])
    elif isinstance(module, nn.Linear):
        module.in_features, module.out_features = spec["in"], spec["out"]
        module.weight = nn.Parameter(torch.empty(spec["out"], spec["in"]))
        _resize_vector(module, "bias", spec["out"])
    elif isinstance(module, _BatchNorm):
        module.num_features = spec["features"]
        for name in ("weight", "bias", "running_mean", "running_var"):
            _resize_vector(module, name, spec["features"])
    else:  # LayerNorm
        module.normalized_shape = (spec["features"],)
        for name in ("weight", "bias"):
            _resize_vector(module, name, spec["features"])


def _resize_vector(module: nn.Module, name: str, size: int) -> None:
    current = getattr(module, name, None)
    if current is None:
        return
    fresh = torch.zeros(size, dtype=current.dtype)
    if isinstance(current, nn.Parameter):
        setattr(module, name, nn.Parameter(fresh))
    else:
        module.register_buffer(name, fresh)
