"""Predict with ONNX Runtime: an ONNX backend for the detection :class:`DetectPredictor`.

A detector exported by ``sightkit export`` takes one image, ``image`` (3 x H x W float32 in
0-1, the longer side at most the bundle's ``image_size``: any aspect ratio), and returns
``boxes`` (N x 4, x1 y1 x2 y2 in that image's pixels), ``scores`` (N, best first) and
``labels`` (N, 1..C). The model's own resize, normalisation, score floor, class-wise NMS and
detection cap are inside the graph (see :mod:`sightkit.deploy.detect_export`), so the
backend only replaces the forward pass: shrinking, scaling back and :class:`Box` es are
those of the PyTorch path. A higher ``score`` than the graph's floor is applied here (exact:
greedy NMS never lets a lower-scored box suppress a higher one); another NMS IoU cannot be,
and is refused.

Example:
    >>> predictor = load_onnx_detector("detector.onnx", threads=1)  # doctest: +SKIP
    >>> predictor.predict(Image.open("street.jpg"), score=0.4)[0]   # doctest: +SKIP
    Box(label='car', score=0.91, x1=812.0, y1=440.5, x2=1032.0, y2=561.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from sightkit.core.threads import configure_onnxruntime
from sightkit.deploy.onnx_meta import read_metadata
from sightkit.deploy.onnx_predictor import _providers
from sightkit.errors import BundleError, ConfigError
from sightkit.tasks.detect.predict import TASK, DetectPredictor

INPUT_NAME = "image"
OUTPUT_NAMES = ("boxes", "scores", "labels")
_SAME_NMS = 1e-6


class OnnxDetectBackend:
    """An ONNX Runtime session that maps images to detections, as a torchvision detector does.

    ``baked``: the graph's ``score_floor``, ``nms`` and ``max_detections`` (from the file's metadata).

    Example:
        >>> built_in = {"score_floor": 0.05, "nms": 0.5, "max_detections": 100}
        >>> backend = OnnxDetectBackend("detector.onnx", built_in)  # doctest: +SKIP
        >>> backend([torch.rand(3, 360, 640)], score=0.3, nms=0.5)[0]["boxes"].shape  # doctest: +SKIP
        torch.Size([4, 4])
    """

    def __init__(self, model: str | Path | bytes, baked: dict[str, Any], threads: int | None = None,
                 device: str = "cpu") -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        configure_onnxruntime(options, threads)
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, options, providers=_providers(device))
        self.score_floor = float(baked["score_floor"])
        self.nms = float(baked["nms"])
        self.max_detections = int(baked["max_detections"])

    def __call__(self, images: list[torch.Tensor], score: float, nms: float,
                 max_detections: int = 100) -> list[dict[str, torch.Tensor]]:
        """Detections per image (``boxes``, ``scores``, ``labels`` tensors), above ``score``, best first."""
        self.check(score, nms, max_detections)
        outputs = []
        for image in images:
            array = image.detach().cpu().contiguous().numpy().astype(np.float32, copy=False)
            boxes, scores, labels = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: array})
            keep = np.flatnonzero(scores > score)[:max_detections]  # torchvision keeps scores strictly above
            outputs.append({"boxes": torch.from_numpy(boxes[keep]), "scores": torch.from_numpy(scores[keep]),
                            "labels": torch.from_numpy(labels[keep].astype(np.int64))})
        return outputs

    def check(self, score: float, nms: float, max_detections: int = 100) -> None:
        """Refuse thresholds the graph cannot honour, naming what is built in (:class:`ConfigError`)."""
        if score < self.score_floor:
            raise ConfigError(f"--score {score}: this ONNX file keeps boxes scoring above {self.score_floor} only; "
                              "give a higher --score, or predict with the bundle")
        if abs(nms - self.nms) > _SAME_NMS:
            raise ConfigError(f"--nms {nms}: this ONNX file has class-wise NMS at IoU {self.nms} built in; "
                              "leave --nms out, or predict with the bundle for another IoU")
        if max_detections > self.max_detections:
            raise ConfigError(f"at most {self.max_detections} detections per image are built into this ONNX file")


def load_onnx_detector(path: str | Path, device: str = "cpu", threads: int | None = None) -> DetectPredictor:
    """A :class:`DetectPredictor` over an ONNX file written by ``sightkit export`` from a detect bundle.

    Example:
        >>> load_onnx_detector("detector.onnx").classes  # doctest: +SKIP
        ['car', 'pedestrian', 'van']
    """
    meta = read_metadata(path)
    if meta["task"] != TASK:
        raise BundleError(f"{path}: this is a '{meta['task']}' model, not a '{TASK}' model; "
                          f"use the 'sightkit {meta['task']}' commands with it")
    baked = meta.get("export", {}).get("built_in")
    if not baked:
        raise BundleError(f"{path}: its metadata does not say which thresholds are built in; re-export the bundle")
    backend = OnnxDetectBackend(path, baked, threads, device)
    predictor = DetectPredictor(backend, meta, device)
    predictor.nms = backend.nms
    return predictor
