"""Export a detect bundle to ONNX: the whole torchvision detector, pre- and post-processing inside.

What the graph holds, and why:

- **Input**: one image, ``image``, 3 x H x W float32 in 0-1 with **H and W dynamic** (the
  longer side at most the bundle's ``image_size``, as :class:`DetectPredictor` shrinks it).
  Keeping the image's own aspect ratio (640x360 for a 1080p frame at 640) gives exactly the
  boxes of the PyTorch path; a fixed square input would pad a wide frame with 44% more
  pixels, cost that much more time and move boxes near the padded edge. One image per
  call: torchvision's detectors batch by padding, which the graph does not do.
- **Inside**: the detector's own resize and normalisation, backbone, head, box decoding,
  the score floor (:data:`SCORE_FLOOR`, the COCO evaluation convention), class-wise NMS at
  the bundle's IoU and the cap of :data:`MAX_DETECTIONS` boxes: an ONNX Runtime on a phone
  gets final boxes without Python.
- **Outputs**: ``boxes`` (N x 4, x1 y1 x2 y2 in the input's pixels), ``scores`` (N, best
  first), ``labels`` (N, int64, 1..C; ``classes[label - 1]`` in the metadata).

Every detector of ``sightkit detect models`` exports with torch's TorchScript exporter at
opset 11 or newer (torchvision's ONNX support). The file is written only after ONNX
Runtime gives the PyTorch boxes on seeded random images of two shapes plus the given samples
(:func:`check_detector_parity`).

Example:
    >>> export_detector("runs/street/model", "street.onnx").parity  # doctest: +SKIP
    {'boxes': 412, 'matched': 1.0, 'max_box_diff_px': 3.1e-05, 'max_score_diff': 2.4e-07, ...}
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx
import torch

from sightkit.core.fileio import atomic_write_bytes
from sightkit.core.images import ImageSource, load_image
from sightkit.deploy.detect_onnx import INPUT_NAME, OUTPUT_NAMES, OnnxDetectBackend
from sightkit.deploy.export import ExportResult, _native_stdout_silenced, _operator_message
from sightkit.deploy.onnx_meta import attach_metadata
from sightkit.errors import ConfigError, DeployError, ImageError
from sightkit.tasks.detect.model import set_thresholds
from sightkit.tasks.detect.predict import DetectPredictor
from sightkit.tasks.detect.transforms import shrink, to_tensor

SCORE_FLOOR = 0.05  # lowest score the graph keeps: COCO evaluations keep detections down to 0.05
MAX_DETECTIONS = 100  # boxes per image, as DetectPredictor's default
MIN_DETECT_OPSET = 11  # torchvision's detection models need opset 11 (dynamic resize, NMS)
BOX_TOLERANCE = 1e-3  # max |corner difference|, relative to the image's longer side
SCORE_TOLERANCE = 1e-3
MIN_MATCHED = 0.98  # share of PyTorch boxes ONNX Runtime must reproduce (NMS near-ties may flip)
_TIE = 1e-6  # scores this close are equal: float noise between the runtimes is ~3e-7


class _SingleImage(torch.nn.Module):
    """A torchvision detector as a graph of one image to ``(boxes, scores, labels)``."""

    def __init__(self, detector: torch.nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.detector([image])[0]
        return out["boxes"], out["scores"], out["labels"]


def export_detector(bundle: str | Path, out: str | Path, *, opset: int, dynamic_batch: bool = False,
                    samples: Sequence[ImageSource] = ()) -> ExportResult:
    """Export a detect bundle to ``out`` after the parity check; :class:`DeployError` (nothing written) on failure.

    Example:
        >>> export_detector("runs/shapes/model", "shapes.onnx", opset=17).path  # doctest: +SKIP
        PosixPath('shapes.onnx')
    """
    if dynamic_batch:
        raise ConfigError("--dynamic-batch: a detector's ONNX file takes one image per call (any height and width); "
                          "leave the option out")
    predictor = DetectPredictor.from_bundle(bundle)
    proto = detector_graph(predictor, opset=opset, source=str(bundle))
    data = proto.SerializeToString()
    parity = check_detector_parity(predictor, data, parity_images(predictor, samples))
    meta = {**predictor.meta, "export": {**_export_info(predictor, opset, str(bundle)), "parity": parity}}
    data = attach_metadata(proto, meta).SerializeToString()
    path = atomic_write_bytes(Path(out), data)
    return ExportResult(path, opset, False, len(data), parity)


def detector_graph(predictor: DetectPredictor, *, opset: int, source: str = "") -> onnx.ModelProto:
    """The ONNX graph of ``predictor.model`` (see the module docstring) with the sightkit metadata."""
    if not MIN_DETECT_OPSET <= opset <= 20:
        raise ConfigError(f"--opset {opset}: detectors need {MIN_DETECT_OPSET}-20 (17 suits ONNX Runtime 1.14+)")
    name = predictor.meta["architecture"]["name"]
    set_thresholds(predictor.model, SCORE_FLOOR, predictor.nms, MAX_DETECTIONS)
    side = predictor.image_size
    dummy = torch.rand(3, max(32, round(side * 9 / 16)), side, generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), _native_stdout_silenced(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_SingleImage(predictor.model).eval(), (dummy,), buffer, input_names=[INPUT_NAME],
                              output_names=list(OUTPUT_NAMES), opset_version=opset,
                              dynamic_axes={INPUT_NAME: {1: "height", 2: "width"}, "boxes": {0: "n"},
                                            "scores": {0: "n"}, "labels": {0: "n"}},
                              do_constant_folding=True, dynamo=False)
    except torch.onnx.errors.UnsupportedOperatorError as exc:
        raise DeployError(f"{name}: {_operator_message(str(exc), opset)}") from None
    except Exception as exc:  # tracing errors of a detector family
        raise DeployError(f"{name}: this detector cannot be exported to ONNX ({str(exc).splitlines()[0][:200]})"
                          ) from None
    proto = onnx.load_from_string(buffer.getvalue())
    return attach_metadata(proto, {**predictor.meta, "export": _export_info(predictor, opset, source)})


def parity_images(predictor: DetectPredictor, samples: Sequence[ImageSource] = ()) -> list[torch.Tensor]:
    """Model inputs for the parity check: a seeded random wide and tall image, plus readable ``samples`` shrunk."""
    side, generator = predictor.image_size, torch.Generator().manual_seed(1)
    images = [torch.rand(3, round(side * 9 / 16), side, generator=generator),
              torch.rand(3, side, round(side * 3 / 4), generator=generator)]
    for source in samples:
        with contextlib.suppress(ImageError):
            images.append(to_tensor(shrink(load_image(source, "RGB"), side)[0]))
    return images


def check_detector_parity(predictor: DetectPredictor, model: bytes, images: list[torch.Tensor]) -> dict[str, Any]:
    """Compare PyTorch's and ONNX Runtime's boxes on ``images`` at the graph's thresholds.

    A PyTorch box is matched by an ONNX box of the same class whose corners are within
    :data:`BOX_TOLERANCE` of the image side and whose score is within :data:`SCORE_TOLERANCE`.
    Raises :class:`DeployError` when less than :data:`MIN_MATCHED` of them are.
    """
    set_thresholds(predictor.model, SCORE_FLOOR, predictor.nms, MAX_DETECTIONS)
    backend = OnnxDetectBackend(model, {"score_floor": SCORE_FLOOR, "nms": predictor.nms,
                                        "max_detections": MAX_DETECTIONS})
    total = matched = 0
    tied = {"tied_at_cap": 0, "tied_scores": 0}
    box_diff = score_diff = 0.0
    for image in images:
        with torch.inference_mode():
            expected = predictor.model([image])[0]
        got = backend([image], score=SCORE_FLOOR, nms=predictor.nms, max_detections=MAX_DETECTIONS)[0]
        counts = match_detections(expected, got, BOX_TOLERANCE * max(image.shape[1:]), SCORE_TOLERANCE,
                                  cap=MAX_DETECTIONS)
        total, matched = total + counts["boxes"], matched + counts["matched"]
        tied = {key: tied[key] + counts[key] for key in tied}
        box_diff, score_diff = max(box_diff, counts["max_box_diff_px"]), max(score_diff, counts["max_score_diff"])
    share = matched / total if total else 1.0
    parity = {"images": len(images), "boxes": total, **tied, "matched": round(share, 4), "max_box_diff_px": box_diff,
              "max_score_diff": score_diff, "box_tolerance": BOX_TOLERANCE, "score_tolerance": SCORE_TOLERANCE}
    if share < MIN_MATCHED:
        raise DeployError(f"ONNX Runtime does not reproduce the detector: {matched} of {total} boxes matched "
                          f"(needed {MIN_MATCHED:.0%}); nothing written (try another --opset, or report the model)")
    return parity


def match_detections(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], box_tolerance: float,
                     score_tolerance: float, cap: int | None = None) -> dict[str, Any]:
    """How many ``expected`` boxes ``got`` reproduces (same label, corners and score within tolerance).

    Boxes whose order is arbitrary are not compared: when ``expected`` holds ``cap`` boxes (the
    cap cut the list), those tied in score with the last one (``tied_at_cap``), and those whose
    score equals another box's of their class (``tied_scores``: NMS may keep either of them).
    Untrained detectors often score thousands of boxes alike; trained ones rarely.

    Example:
        >>> one = {"boxes": torch.tensor([[0., 0, 10, 10]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}
        >>> match_detections(one, one, 0.01, 0.001)["matched"]
        1
    """
    used: set[int] = set()
    matched, box_diff, score_diff = 0, 0.0, 0.0
    scores, labels = expected["scores"], expected["labels"]
    at_cap = torch.zeros(len(scores), dtype=torch.bool)
    if cap is not None and len(scores) >= cap:
        at_cap = scores <= scores.min() + score_tolerance
    same = ((scores[:, None] - scores[None, :]).abs() <= _TIE) & (labels[:, None] == labels[None, :])
    twins = same.sum(1) > 1
    keep = ~at_cap & ~twins
    for box, score, label in zip(expected["boxes"][keep], expected["scores"][keep], expected["labels"][keep]):
        corners = (got["boxes"] - box).abs().amax(1) if len(got["boxes"]) else torch.zeros(0)
        scores = (got["scores"] - score).abs()
        fits = (corners <= box_tolerance) & (scores <= score_tolerance) & (got["labels"] == label)
        candidates = [i for i in torch.nonzero(fits).flatten().tolist() if i not in used]
        if not candidates:
            continue
        best = min(candidates, key=lambda i: float(corners[i]))
        used.add(best)
        matched += 1
        box_diff, score_diff = max(box_diff, float(corners[best])), max(score_diff, float(scores[best]))
    return {"boxes": int(keep.sum()), "tied_at_cap": int(at_cap.sum()), "tied_scores": int((twins & ~at_cap).sum()),
            "matched": matched,
            "max_box_diff_px": box_diff, "max_score_diff": score_diff}


def _export_info(predictor: DetectPredictor, opset: int, source: str) -> dict[str, Any]:
    return {
        "format": "onnx", "opset": opset, "dynamic_batch": False, "source": source,
        "input": {"name": INPUT_NAME, "shape": [3, "height", "width"], "dtype": "float32",
                  "layout": f"CHW RGB in 0-1, longer side at most {predictor.image_size} (one image per call)"},
        "output": {"names": list(OUTPUT_NAMES), "meaning": "boxes N x 4 (x1 y1 x2 y2, input pixels), scores N "
                   "(best first), labels N (1..C; classes[label - 1])"},
        "built_in": {"score_floor": SCORE_FLOOR, "nms": predictor.nms, "max_detections": MAX_DETECTIONS},
        "exporter": f"torch {torch.__version__} torch.onnx.export (TorchScript)",
    }
