"""Attribution methods through captum, each giving one ``(H, W)`` map in [0, 1] per image.

Every method explains the model's raw logit of a target class for a batch of normalised
inputs, on whatever device the model is on. Maps are reduced over channels, made
non-negative and divided by their own maximum (an all-zero map stays zero):

* ``gradcam`` - Grad-CAM (Selvaraju et al. 2017) at a conv layer, upsampled bilinearly;
* ``guided_gradcam`` - Grad-CAM times guided backpropagation; |.| summed over channels;
* ``layercam`` - LayerCAM (Jiang et al. 2021): like Grad-CAM, but each location's activations
  are weighted by that location's own positive gradient instead of one channel-wide average,
  so it stays class-specific at finer (shallower) layers; upsampled bilinearly;
* ``integrated_gradients`` - Sundararajan et al. 2017 from a baseline (see ``baselines``);
  the positive part of the channel sum (evidence *for* the class);
* ``occlusion`` - the logit drop when a square patch is set to the mean colour; positive part;
* ``saliency`` - the gradient's absolute value, its maximum over channels (Simonyan et al. 2014).

Example:
    >>> maps = attribute(model, batch, torch.tensor([3, 1]), "gradcam", layer=model.features)  # doctest: +SKIP
    >>> maps.shape, float(maps.max())                                                           # doctest: +SKIP
    (torch.Size([2, 32, 32]), 1.0)
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F

from sightkit.errors import ConfigError
from sightkit.explain.choices import CAM_METHODS, METHODS, check_choice

# Integration steps of integrated gradients: the completeness error is already a few percent.
IG_STEPS = 32
# Most images one forward pass of integrated gradients or occlusion may hold.
_CHUNK = 128


def check_method(method: str) -> None:
    """Raise :class:`ConfigError` unless ``method`` is one of :data:`METHODS`."""
    check_choice(method, METHODS, "--method")


def attribute(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, method: str, *,
              layer: nn.Module | None = None, baseline: torch.Tensor | None = None) -> torch.Tensor:
    """Maps ``(N, H, W)`` in [0, 1] of ``method`` for the ``targets`` classes of ``inputs``.

    ``layer`` is needed by the Grad-CAM methods, ``baseline`` (same shape as ``inputs``)
    by integrated gradients. ``inputs`` and ``targets`` may be on any device; the result
    is on the model's device.
    """
    check_method(method)
    if method in CAM_METHODS and layer is None:
        raise ConfigError(f"--method {method} needs a convolutional layer")
    device = next(model.parameters()).device
    inputs = inputs.to(device).detach().requires_grad_(True)
    targets = targets.to(device)
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(backward hooks|requires_grad|inplace).*")
        raw = _ATTRIBUTORS[method](model, inputs, targets, layer, baseline)
    return _normalise(raw.detach())


def _gradcam(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, layer: nn.Module | None,
             _baseline: torch.Tensor | None) -> torch.Tensor:
    from captum.attr import LayerGradCam

    cam = LayerGradCam(model, layer).attribute(inputs, target=targets, relu_attributions=True)
    cam = F.interpolate(cam.float(), size=inputs.shape[-2:], mode="bilinear", align_corners=False)
    return cam[:, 0]


def _layercam(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, layer: nn.Module | None,
              _baseline: torch.Tensor | None) -> torch.Tensor:
    """LayerCAM: ``relu(sum_k relu(dy/dA_k) * A_k)`` at every location of ``layer``, upsampled.

    captum has no LayerCAM (its gradient-times-activation keeps negative gradients), so the
    layer's output is caught with a forward hook and differentiated directly.
    """
    outputs: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _module, _inputs, output: outputs.append(output))
    try:
        score = model(inputs).gather(1, targets.view(-1, 1)).sum()
    finally:
        hook.remove()
    (grad,) = torch.autograd.grad(score, outputs[0])
    cam = (grad.clamp(min=0) * outputs[0]).sum(1, keepdim=True).clamp(min=0)
    return F.interpolate(cam.float(), size=inputs.shape[-2:], mode="bilinear", align_corners=False)[:, 0]


def _guided_gradcam(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, layer: nn.Module | None,
                    _baseline: torch.Tensor | None) -> torch.Tensor:
    from captum.attr import GuidedGradCam

    return GuidedGradCam(model, layer).attribute(inputs, target=targets).abs().sum(1)


def _integrated_gradients(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, _layer: nn.Module | None,
                          baseline: torch.Tensor | None) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    baseline = torch.zeros_like(inputs) if baseline is None else baseline.to(inputs.device)
    attr = IntegratedGradients(model).attribute(inputs, baselines=baseline, target=targets, n_steps=IG_STEPS,
                                                internal_batch_size=max(len(inputs), _CHUNK))
    return attr.sum(1).clamp(min=0)


def _occlusion(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, _layer: nn.Module | None,
               _baseline: torch.Tensor | None) -> torch.Tensor:
    from captum.attr import Occlusion

    channels, side = inputs.shape[1], min(inputs.shape[-2:])
    window = occlusion_window(side)
    stride = max(1, window // 2)
    attr = Occlusion(model).attribute(inputs, sliding_window_shapes=(channels, window, window),
                                      strides=(channels, stride, stride), baselines=0.0, target=targets,
                                      perturbations_per_eval=max(1, _CHUNK // len(inputs)))
    return attr.sum(1).clamp(min=0)


def _saliency(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, _layer: nn.Module | None,
              _baseline: torch.Tensor | None) -> torch.Tensor:
    from captum.attr import Saliency

    return Saliency(model).attribute(inputs, target=targets, abs=True).amax(1)


def occlusion_window(side: int) -> int:
    """Side of the occluding patch for ``side`` px images: 1/8 of the image, at least 2 px.

    Example:
        >>> occlusion_window(32), occlusion_window(8)
        (4, 2)
    """
    return max(2, side // 8)


def _normalise(maps: torch.Tensor) -> torch.Tensor:
    """Each map clamped at 0 and divided by its maximum; all-zero maps stay zero."""
    maps = maps.float().clamp(min=0)
    peak = maps.flatten(1).amax(1).clamp(min=torch.finfo(maps.dtype).tiny)
    return maps / peak.view(-1, 1, 1)


_ATTRIBUTORS = {
    "gradcam": _gradcam,
    "guided_gradcam": _guided_gradcam,
    "layercam": _layercam,
    "integrated_gradients": _integrated_gradients,
    "occlusion": _occlusion,
    "saliency": _saliency,
}
