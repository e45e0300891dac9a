"""Run a detect bundle on images: typed boxes in the original image's pixels, with thresholds.

The image is shrunk so its longer side is the bundle's ``image_size`` (as in training),
the detector's boxes are scaled back to the original pixels, and detections below the
score threshold or suppressed by class-wise NMS at the IoU threshold are dropped.

Example:
    >>> predictor = DetectPredictor.from_bundle("runs/detect-shapes/model")  # doctest: +SKIP
    >>> predictor.predict(Image.open("street.jpg"), score=0.4)[0]  # doctest: +SKIP
    Box(label='car', score=0.91, x1=812.0, y1=440.5, x2=1032.0, y2=561.0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from sightkit.core.bundle import load_bundle
from sightkit.errors import BundleError, ConfigError
from sightkit.tasks.detect.model import build_detector, set_thresholds
from sightkit.tasks.detect.transforms import shrink, to_tensor

TASK = "detect"


@dataclass(frozen=True)
class Box:
    """One detection: class name, score (0-1) and corners in the image's pixels (x to the right, y down)."""

    label: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (coordinates to 0.1 px, score to 4 decimals).

        Example:
            >>> Box("car", 0.912345, 1.04, 2, 3, 4).to_dict()
            {'label': 'car', 'score': 0.9123, 'x1': 1.0, 'y1': 2, 'x2': 3, 'y2': 4}
        """
        values = asdict(self)
        values["score"] = round(self.score, 4)
        for key in ("x1", "y1", "x2", "y2"):
            values[key] = round(values[key], 1)
        return values


def check_thresholds(score: float, nms: float) -> None:
    """Refuse thresholds outside 0-1 with a one-line :class:`ConfigError`."""
    if not 0 <= score <= 1:
        raise ConfigError(f"--score {score}: give a score threshold between 0 and 1")
    if not 0 < nms <= 1:
        raise ConfigError(f"--nms {nms}: give an IoU threshold above 0 and at most 1")


class DetectPredictor:
    """A detector with its class names and preprocessing, ready to run on any image size.

    ``model`` is a torchvision detector, or a backend that takes the same list of images plus
    ``score``, ``nms`` and ``max_detections`` and returns the same dicts (e.g. ONNX Runtime's,
    :class:`~sightkit.deploy.detect_onnx.OnnxDetectBackend`).
    """

    def __init__(self, model: torch.nn.Module | Any, meta: dict[str, Any], device: str = "cpu") -> None:
        self.meta, self.device = meta, torch.device(device)
        self.model = model.to(self.device).eval() if isinstance(model, torch.nn.Module) else model
        self.classes: list[str] = list(meta["classes"])
        self.image_size = int(meta["architecture"]["image_size"])
        thresholds = meta.get("thresholds", {})
        self.score, self.nms = float(thresholds.get("score", 0.3)), float(thresholds.get("nms", 0.5))

    @classmethod
    def from_bundle(cls, path: str | Path, device: str = "cpu") -> DetectPredictor:
        """Load a ``detect`` bundle (never unpickles)."""
        state, meta = load_bundle(path, task=TASK)
        try:
            arch = meta["architecture"]
            model = build_detector(arch["name"], int(arch["num_classes"]), int(arch["image_size"]))
            if len(meta["classes"]) != int(arch["num_classes"]):
                raise KeyError("classes")
            model.load_state_dict(state)
        except (KeyError, TypeError, RuntimeError) as exc:
            raise BundleError(f"{path}: its detector cannot be rebuilt ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200]})") from None
        return cls(model, meta, device)

    def thresholds(self, score: float | None = None, nms: float | None = None) -> tuple[float, float]:
        """``(score, nms)`` with the bundle's where ``None``, checked (:class:`ConfigError` when out of range
        or, for an ONNX backend, not what its graph can honour).

        Example:
            >>> predictor.thresholds(None, 0.6)  # doctest: +SKIP
            (0.3, 0.6)
        """
        score = self.score if score is None else score
        nms = self.nms if nms is None else nms
        check_thresholds(score, nms)
        if not isinstance(self.model, torch.nn.Module) and hasattr(self.model, "check"):
            self.model.check(score, nms)
        return score, nms

    @torch.inference_mode()
    def predict_batch(self, images: list[Image.Image], score: float | None = None, nms: float | None = None,
                      max_detections: int = 100) -> list[list[Box]]:
        """Boxes per image, highest score first, in each image's own pixels."""
        score, nms = self.thresholds(score, nms)
        tensors, factors = [], []
        for image in images:
            small, factor = shrink(image.convert("RGB"), self.image_size)
            tensors.append(to_tensor(small).to(self.device))
            factors.append(factor)
        if isinstance(self.model, torch.nn.Module):
            set_thresholds(self.model, score, nms, max_detections)
            outputs = self.model(tensors)
        else:
            outputs = self.model(tensors, score=score, nms=nms, max_detections=max_detections)
        return [self._boxes(output, factor) for output, factor in zip(outputs, factors)]

    def predict(self, image: Image.Image, score: float | None = None, nms: float | None = None) -> list[Box]:
        """Boxes of one image; see :meth:`predict_batch`."""
        return self.predict_batch([image], score, nms)[0]

    def _boxes(self, output: dict[str, torch.Tensor], factor: float) -> list[Box]:
        boxes = (output["boxes"].float().cpu() / factor).tolist()
        scores = output["scores"].float().cpu().tolist()
        labels = output["labels"].cpu().tolist()
        found = [Box(self.classes[label - 1], score, *box) for box, score, label in zip(boxes, scores, labels)
                 if 1 <= label <= len(self.classes)]
        return sorted(found, key=lambda b: -b.score)
