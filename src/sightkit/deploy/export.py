"""Export a classifier bundle to ONNX, with its metadata inside and a parity check at the end.

A detect bundle goes to :func:`sightkit.deploy.detect_export.export_detector` (one image in, boxes out).

The TorchScript-based ``torch.onnx.export`` (``dynamo=False``) is used: in torch 2.9-2.14 it
honours ``--opset`` exactly and names an operator that an opset is too old for, while the
``torch.export`` path silently falls back to opset 18 when asked for an older one. The
file is written only after ONNX Runtime reproduces the torch logits (max absolute difference
within tolerance, same top-1 on every sample input).

Example:
    >>> result = export_onnx("runs/cifar/model", "model.onnx", opset=17, dynamic_batch=True)  # doctest: +SKIP
    >>> result.parity  # doctest: +SKIP
    {'max_abs_diff': 2.1e-06, 'top1_agreement': 1.0, 'n': 24, 'tolerance': 0.001}
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnx
import torch

from sightkit.core.bundle import read_meta
from sightkit.core.fileio import atomic_write_bytes
from sightkit.core.images import ImageSource
from sightkit.deploy.onnx_meta import attach_metadata, read_metadata
from sightkit.deploy.onnx_predictor import OnnxBackend
from sightkit.errors import ConfigError, DeployError, ImageError
from sightkit.tasks.classify.predict import Predictor

FORMATS = {"onnx": ("classify", "detect")}  # format -> tasks it supports (detect: deploy/detect_export.py)
DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 7, 20  # the range of torch's TorchScript ONNX exporter
PARITY_TOLERANCE = 1e-3  # max |logit difference|, relative to max(1, largest |logit|)
N_RANDOM_INPUTS = 8
INPUT_NAME, OUTPUT_NAME = "input", "logits"


@dataclass
class ExportResult:
    """Where the ONNX file went and how closely it matches the torch model."""

    path: Path
    opset: int
    dynamic_batch: bool
    size_bytes: int
    parity: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "path": str(self.path)}


def export_onnx(bundle: str | Path, out: str | Path, *, fmt: str = "onnx", opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = False, samples: Sequence[ImageSource] = (),
                tolerance: float = PARITY_TOLERANCE) -> ExportResult:
    """Export ``bundle`` to ``out``; check parity on random inputs plus ``samples`` (real images).

    Raises :class:`DeployError` (and writes nothing) when the task or an operator is not
    supported, or when ONNX Runtime does not reproduce the model.
    """
    if check_exportable(bundle, fmt)["task"] == "detect":
        from sightkit.deploy.detect_export import export_detector

        return export_detector(bundle, out, opset=opset, dynamic_batch=dynamic_batch, samples=samples)
    predictor = Predictor.from_bundle(bundle)
    model = export_model(predictor, opset=opset, dynamic_batch=dynamic_batch, source=str(bundle))
    parity = check_parity(predictor, model, parity_inputs(predictor, samples), tolerance)
    meta = read_metadata(model)
    meta["export"]["parity"] = parity
    data = attach_metadata(model, meta).SerializeToString()
    path = atomic_write_bytes(Path(out), data)
    return ExportResult(path, opset, dynamic_batch, len(data), parity)


def check_exportable(bundle: str | Path, fmt: str) -> dict[str, Any]:
    """The bundle metadata, after checking that ``fmt`` supports the bundle's task."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    meta = read_meta(bundle)
    if meta["task"] not in FORMATS[fmt]:
        raise DeployError(f"{bundle}: a '{meta['task']}' bundle cannot be exported to {fmt} yet "
                          f"(supported tasks: {', '.join(FORMATS[fmt])})")
    return meta


def export_model(predictor: Predictor, *, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False,
                 source: str = "") -> onnx.ModelProto:
    """The ONNX graph of ``predictor.model`` (input ``input`` NCHW float32, output ``logits``) with metadata."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(f"--opset {opset}: choose {MIN_OPSET}-{MAX_OPSET} (17 suits ONNX Runtime 1.14 and newer)")
    model = predictor.model
    if not isinstance(model, torch.nn.Module):
        raise ConfigError("export needs a torch model; this predictor already runs an ONNX file")
    channels = 1 if predictor.mode == "L" else 3
    dummy = torch.zeros(1, channels, predictor.size, predictor.size, device=predictor.device)
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), _native_stdout_silenced(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (dummy,), buffer, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=opset, dynamic_axes=axes,
                              do_constant_folding=True, dynamo=False)
    except torch.onnx.errors.UnsupportedOperatorError as exc:
        raise DeployError(_operator_message(str(exc), opset)) from None
    except Exception as exc:  # tracing errors of unusual models
        raise DeployError(f"ONNX export failed: {str(exc).splitlines()[0]}") from None
    proto = onnx.load_from_string(buffer.getvalue())
    batch: int | str = "batch" if dynamic_batch else 1
    info = {"format": "onnx", "opset": opset, "dynamic_batch": dynamic_batch, "source": source,
            "input": {"name": INPUT_NAME, "shape": [batch, channels, predictor.size, predictor.size],
                      "dtype": "float32", "layout": "NCHW, normalised with preprocessing.mean/std"},
            "output": {"name": OUTPUT_NAME, "meaning": "logits; probabilities = softmax(logits / temperature)"},
            "exporter": f"torch {torch.__version__} torch.onnx.export (TorchScript)"}
    return attach_metadata(proto, {**predictor.meta, "export": info})


def parity_inputs(predictor: Predictor, samples: Sequence[ImageSource] = ()) -> torch.Tensor:
    """Seeded random inputs in the model's input space, plus the readable ``samples`` preprocessed."""
    channels = 1 if predictor.mode == "L" else 3
    generator = torch.Generator().manual_seed(0)
    tensors = [torch.randn(N_RANDOM_INPUTS, channels, predictor.size, predictor.size, generator=generator)]
    for source in samples:
        with contextlib.suppress(ImageError):
            tensors.append(predictor.preprocess(source)[None])
    return torch.cat(tensors)


def check_parity(predictor: Predictor, model: onnx.ModelProto | bytes, inputs: torch.Tensor,
                 tolerance: float = PARITY_TOLERANCE) -> dict[str, float]:
    """Compare torch and ONNX Runtime logits on ``inputs``; :class:`DeployError` when they differ.

    A top-1 flip between two classes whose torch logits are within ``tolerance`` is a tie,
    not a mismatch.
    """
    data = model if isinstance(model, bytes) else model.SerializeToString()
    expected = predictor.logits(inputs)
    got = OnnxBackend(data)(inputs)
    scale = max(1.0, float(expected.abs().max()))
    diff = float((expected - got).abs().max())
    top_expected, top_got = expected.argmax(1), got.argmax(1)
    margin = expected.gather(1, top_expected[:, None]) - expected.gather(1, top_got[:, None])
    real_flips = int((margin.squeeze(1) > tolerance * scale).sum())
    parity = {"max_abs_diff": diff, "top1_agreement": float((top_expected == top_got).float().mean()),
              "n": len(inputs), "tolerance": tolerance * scale}
    if diff > tolerance * scale or real_flips:
        raise DeployError(f"ONNX Runtime does not reproduce the model: max |logit diff| {diff:.3g} "
                          f"(allowed {tolerance * scale:.3g}), top-1 agreement {parity['top1_agreement']:.3f}; "
                          "nothing written (try another --opset, or report the model)")
    return parity


def _operator_message(message: str, opset: int) -> str:
    match = re.search(r"operator '([^']+)'.*?added in version (\d+)", message, re.S)
    if match:
        return (f"--opset {opset}: the model uses operator '{match.group(1)}', which needs opset "
                f"{match.group(2)} or newer; rerun with --opset {match.group(2)}")
    match = re.search(r"operator '([^']+)'", message)
    name = match.group(1) if match else "?"
    return f"--opset {opset}: operator '{name}' cannot be exported to ONNX by torch ({message.splitlines()[0]})"


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """Silence file descriptor 1 for the duration: on failure the TorchScript exporter dumps its
    whole graph there from C++, which would bury the one-line error and break ``--json``."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
