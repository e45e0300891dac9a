"""Detection architectures by name, built from torchvision for a dataset's classes, and local weights.

Every model takes a list of 3xHxW float images in 0-1 and, in training mode, targets with
``boxes`` (pixels, x1 y1 x2 y2) and ``labels`` (1..C; 0 is the background); it resizes
internally so the longer side is ``image_size`` (SSDlite: a fixed 320x320). Nothing is
downloaded: backbones start from random weights unless ``weights`` names a local file.

Example:
    >>> model = build_detector("fcos_resnet18", num_classes=3, image_size=128)
    >>> type(model).__name__
    'FCOS'
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch import nn

from sightkit.errors import ModelError

DEFAULT_MODEL = "fcos_resnet18"
_LIGHT_FPN = 128  # FPN / head width of the light FCOS: a quarter of the compute of torchvision's 256
_LIGHT_HEAD_CONVS = 2  # conv layers per FCOS head branch (torchvision's default is 4)


def _fcos_resnet(depth: str, num_classes: int, image_size: int, light: bool) -> nn.Module:
    from torchvision.models import resnet
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.fcos import FCOSHead
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    width = _LIGHT_FPN if light else 256
    body = getattr(resnet, depth)(weights=None)
    channels = [body.inplanes // 4, body.inplanes // 2, body.inplanes]  # layer2..layer4 outputs
    backbone = BackboneWithFPN(body, {"layer2": "0", "layer3": "1", "layer4": "2"}, channels, width,
                               extra_blocks=LastLevelP6P7(width, width))
    head = FCOSHead(width, 1, num_classes, num_convs=_LIGHT_HEAD_CONVS if light else 4)
    return FCOS(backbone, num_classes, min_size=image_size, max_size=image_size, head=head)


def _mobilenet_backbone(fpn_width: int = 256) -> nn.Module:
    from torchvision.models.detection.backbone_utils import mobilenet_backbone
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    return mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True, trainable_layers=6,
                              extra_blocks=LastLevelP6P7(fpn_width, fpn_width), norm_layer=nn.BatchNorm2d)


def _fcos_mobilenet(num_classes: int, image_size: int) -> nn.Module:
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    backbone = _mobilenet_backbone()
    anchors = AnchorGenerator(((8,), (16,), (32,), (64,), (128,))[:_levels(backbone)], ((1.0,),) * _levels(backbone))
    return FCOS(backbone, num_classes, min_size=image_size, max_size=image_size, anchor_generator=anchors)


def _retinanet_mobilenet(num_classes: int, image_size: int) -> nn.Module:
    from torchvision.models.detection import RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    backbone = _mobilenet_backbone()
    octaves = (32, 64, 128, 256, 512)[:_levels(backbone)]  # three scales per octave, as torchvision's RetinaNet
    sizes = tuple((s, int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in octaves)
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    return RetinaNet(backbone, num_classes, min_size=image_size, max_size=image_size, anchor_generator=anchors)


def _levels(backbone: nn.Module) -> int:
    with torch.no_grad():
        return len(backbone(torch.zeros(1, 3, 64, 64)))


def _torchvision(name: str, num_classes: int, image_size: int) -> nn.Module:
    from torchvision.models import detection

    sizes = {} if name.startswith("ssdlite") else {"min_size": image_size, "max_size": image_size}
    return getattr(detection, name)(weights=None, weights_backbone=None, num_classes=num_classes, **sizes)


# name -> (builder(num_classes incl. background, image_size), what it is)
DETECTORS: dict[str, tuple[Callable[[int, int], nn.Module], str]] = {
    "fcos_resnet18": (partial(_fcos_resnet, "resnet18", light=True),
                      "FCOS, ResNet-18 FPN 128 wide, 2-conv heads (the CPU default)"),
    "fcos_resnet50": (partial(_fcos_resnet, "resnet50", light=False), "FCOS, ResNet-50 FPN (torchvision's)"),
    "fcos_mobilenet_v3": (_fcos_mobilenet, "FCOS, MobileNetV3-Large FPN"),
    "retinanet_mobilenet_v3": (_retinanet_mobilenet, "RetinaNet, MobileNetV3-Large FPN"),
    "retinanet_resnet50": (partial(_torchvision, "retinanet_resnet50_fpn_v2"), "RetinaNet v2, ResNet-50 FPN"),
    "fasterrcnn_mobilenet_v3": (partial(_torchvision, "fasterrcnn_mobilenet_v3_large_fpn"),
                                "Faster R-CNN, MobileNetV3-Large FPN"),
    "fasterrcnn_mobilenet_v3_320": (partial(_torchvision, "fasterrcnn_mobilenet_v3_large_320_fpn"),
                                    "Faster R-CNN, MobileNetV3-Large FPN, low-resolution RPN settings"),
    "fasterrcnn_resnet50": (partial(_torchvision, "fasterrcnn_resnet50_fpn_v2"), "Faster R-CNN v2, ResNet-50 FPN"),
    "ssdlite_mobilenet_v3": (partial(_torchvision, "ssdlite320_mobilenet_v3_large"),
                             "SSDlite, MobileNetV3-Large, fixed 320x320 input (edge)"),
}


def build_detector(name: str, num_classes: int, image_size: int) -> nn.Module:
    """A randomly initialised detector for ``num_classes`` object classes (the background is added).

    Example:
        >>> build_detector("yolo", 3, 128)
        Traceback (most recent call last):
        sightkit.errors.ModelError: --model 'yolo': choose one of fcos_resnet18, fcos_resnet50, \
fcos_mobilenet_v3, retinanet_mobilenet_v3, retinanet_resnet50, fasterrcnn_mobilenet_v3, \
fasterrcnn_mobilenet_v3_320, fasterrcnn_resnet50, ssdlite_mobilenet_v3
    """
    if name not in DETECTORS:
        raise ModelError(f"--model {name!r}: choose one of {', '.join(DETECTORS)}")
    return DETECTORS[name][0](num_classes + 1, image_size)


def set_thresholds(model: nn.Module, score: float, nms: float, max_detections: int = 100) -> None:
    """Set the score threshold, NMS IoU threshold and detections per image of any built detector.

    Example:
        >>> set_thresholds(model, score=0.05, nms=0.5)  # doctest: +SKIP
    """
    heads = getattr(model, "roi_heads", model)  # Faster R-CNN keeps them in its box head
    heads.score_thresh, heads.nms_thresh = score, nms
    if hasattr(heads, "detections_per_img"):
        heads.detections_per_img = max_detections


def load_weights(model: nn.Module, path: str | Path) -> dict[str, int]:
    """Copy the tensors of a local weight file into ``model`` wherever name and shape match.

    ``path``: a ``.safetensors`` file, a PyTorch ``.pt``/``.pth`` state dict (read with
    ``weights_only=True``: nothing is unpickled), or a sightkit detect bundle. Whole-detector
    weights (e.g. torchvision's COCO checkpoints) match by name; a classification backbone's
    (ImageNet) match under ``backbone.body``. Tensors whose shape differs (the class layers when
    the class counts differ) keep their fresh initialisation. Returns the counts
    ``loaded``, ``reinitialised`` (same name, other shape) and ``total``.

    Example:
        >>> load_weights(model, "fcos_resnet18_5_classes.pth")  # doctest: +SKIP
        {'loaded': 156, 'reinitialised': 2, 'total': 158}
    """
    source = _read_state(Path(path))
    target = model.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    reinitialised: set[str] = set()
    for key, value in source.items():
        for name in (key, "backbone.body." + key, "backbone.body." + key.removeprefix("features.")):
            if name in target and name not in loaded:
                if target[name].shape == value.shape:
                    loaded[name] = value
                else:
                    reinitialised.add(name)
                break
    if not loaded:
        raise ModelError(f"--weights {path}: none of its {len(source)} tensors fits this model "
                         "(is it for another architecture?)")
    model.load_state_dict(loaded, strict=False)
    return {"loaded": len(loaded), "reinitialised": len(reinitialised), "total": len(target)}


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise ModelError(f"--weights {path}: no such file")
    if path.is_dir() or path.suffix == ".sightkit":
        from sightkit.core.bundle import load_bundle

        return load_bundle(path, task="detect")[0]
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types on corrupt files
            raise ModelError(f"--weights {path}: not a readable safetensors file ({exc})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled code with an UnpicklingError
        raise ModelError(f"--weights {path}: not a plain PyTorch state dict ({type(exc).__name__}); "
                         "give a .safetensors or a .pth saved from model.state_dict()") from None
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"--weights {path}: holds no state dict of tensors")
    return {k.removeprefix("model.").removeprefix("module."): v for k, v in state.items()}
