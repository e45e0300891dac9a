"""Which layer Grad-CAM reads: chosen automatically for built-in and timm models, or by name.

Candidates, shallow to deep: the blocks of a built-in ``SkCNN``'s ``features`` (then
``features`` itself); the blocks a timm model lists in ``feature_info``; otherwise every
``Conv2d``. The automatic choice is the deepest candidate whose feature map is at least
:data:`MIN_CAM_SIDE` pixels on each side at the model's input size: deep layers are the
most class-specific, but a Grad-CAM map has its layer's resolution, and a 1x1 map (resnet18's
``layer4`` at 32 px, SkCNN's ``features`` at 8 px) is a constant that shows nothing.

LayerCAM asks for :data:`MIN_LAYERCAM_SIDE` instead, one pooling stage finer. Grad-CAM
averages each channel's gradient over the whole map, so at a shallow layer (whose channels
are edges and textures, not parts of a class) it loses class evidence; measured on skcnn_small,
Grad-CAM one stage finer beat random orders on fewer images (digits) or no more (CIFAR).
LayerCAM weights each location by its own gradient and keeps that evidence (Jiang et al. 2021).

Example:
    >>> name, module = choose_cam_layer(model, in_chans=3, size=32)  # doctest: +SKIP
    >>> name                                                          # doctest: +SKIP
    'layer2'
"""

from __future__ import annotations

import torch
from torch import nn

from sightkit.errors import ConfigError
from sightkit.tasks.classify.model import SkCNN

# Smallest side of a feature map worth a Grad-CAM: 4x4 still separates centre from corners.
MIN_CAM_SIDE = 4
# Smallest side for LayerCAM: one 2x2 pooling stage finer than Grad-CAM's (see the module docstring).
MIN_LAYERCAM_SIDE = 2 * MIN_CAM_SIDE
# Methods that need no convolutional layer; named in the error for models without one.
LAYERLESS_METHODS = ("integrated_gradients", "occlusion", "saliency")


def has_conv(model: nn.Module) -> bool:
    """Whether ``model`` has a 2-D convolution (which Grad-CAM needs).

    Example:
        >>> has_conv(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
        False
    """
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def candidate_layers(model: nn.Module) -> list[str]:
    """Names of the layers Grad-CAM can sensibly read, shallow to deep (see the module docstring).

    Example:
        >>> candidate_layers(timm.create_model("resnet18"))  # doctest: +SKIP
        ['act1', 'layer1', 'layer2', 'layer3', 'layer4']
    """
    modules = dict(model.named_modules())
    if isinstance(model, SkCNN):
        blocks = [f"features.{i}" for i, block in enumerate(model.features) if has_conv(block)]
        return blocks + ["features"]
    info = getattr(model, "feature_info", None)
    names = [str(entry["module"]) for entry in info] if isinstance(info, list) else []
    names = [name for name in names if name in modules]
    return names or [name for name, m in modules.items() if isinstance(m, nn.Conv2d)]


def choose_cam_layer(model: nn.Module, in_chans: int, size: int, name: str | None = None,
                     min_side: int = MIN_CAM_SIDE) -> tuple[str, nn.Module]:
    """The Grad-CAM layer of ``model`` for ``size`` px inputs: ``name`` if given, else chosen.

    The chosen layer is the deepest candidate whose map is at least ``min_side`` (at most
    ``size``) on each side, or the one with the largest map if none is.

    Raises :class:`ConfigError` when the model has no convolution (naming the methods that
    apply), when ``name`` is not one of its layers (listing the candidates with their map
    sizes), or when that layer does not output a feature map.
    """
    if not has_conv(model):
        raise ConfigError("this model has no convolutional layer, so Grad-CAM cannot apply; "
                          f"use --method {' | '.join(LAYERLESS_METHODS)}")
    modules = dict(model.named_modules())
    candidates = candidate_layers(model)
    wanted = [name] if name is not None and name in modules else []
    shapes = _output_shapes(model, [*candidates, *wanted], in_chans, size)
    if name is not None:
        if name not in modules or len(shapes.get(name, ())) != 4:
            problem = "is not a layer of this model" if name not in modules else "does not output a feature map"
            raise ConfigError(f"--layer {name!r} {problem}; choose one of: {_describe(candidates, shapes)}")
        return name, modules[name]
    mapped = [n for n in candidates if len(shapes.get(n, ())) == 4]
    if not mapped:
        raise ConfigError("no layer of this model outputs a feature map, so Grad-CAM cannot apply; "
                          f"use --method {' | '.join(LAYERLESS_METHODS)}")
    side = min(min_side, size)
    large = [n for n in mapped if min(shapes[n][-2:]) >= side]
    chosen = large[-1] if large else max(mapped, key=lambda n: min(shapes[n][-2:]))
    return chosen, modules[chosen]


def map_cell(model: nn.Module, name: str, in_chans: int, size: int) -> int:
    """Input pixels per cell of layer ``name``'s feature map (its map's resolution), at least 1.

    Example:
        >>> map_cell(model, "features", in_chans=3, size=32)  # a 4x4 map  # doctest: +SKIP
        8
    """
    shape = _output_shapes(model, [name], in_chans, size).get(name, ())
    return max(1, size // shape[-1]) if len(shape) == 4 else 1


def _output_shapes(model: nn.Module, names: list[str], in_chans: int, size: int) -> dict[str, tuple[int, ...]]:
    """Output shape of each named module in one forward pass of a zero image."""
    modules = dict(model.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}

    def recorder(layer_name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(tensor, torch.Tensor):
                shapes[layer_name] = tuple(tensor.shape)
        return hook

    handles = [modules[n].register_forward_hook(recorder(n)) for n in dict.fromkeys(names)]
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_chans, size, size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _describe(names: list[str], shapes: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{n} ({shapes[n][-2]}x{shapes[n][-1]})" if len(shapes.get(n, ())) == 4 else n
                     for n in names)
