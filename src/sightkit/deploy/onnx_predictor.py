"""Predict with ONNX Runtime: an ONNX backend for the classification :class:`Predictor`.

The backend only replaces the forward pass, so decoding, resizing, normalisation,
temperature and top-k are exactly those of the torch path, and the labels match.
Tensors cross between torch and ONNX Runtime without copies.

Example:
    >>> predictor = load_onnx_predictor("model.onnx")  # doctest: +SKIP
    >>> predictor.predict(["cat.jpg"])[0].label         # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from sightkit.core.bundle import is_bundle
from sightkit.core.threads import configure_onnxruntime
from sightkit.deploy.onnx_meta import read_metadata
from sightkit.errors import BundleError, ConfigError
from sightkit.tasks.classify.predict import TASK, Predictor


class OnnxBackend:
    """An ONNX Runtime session that maps a preprocessed batch to logits, like a torch model.

    A file exported with a fixed batch size is run in chunks of that size (the last one
    zero-padded), so any number of images works.

    Example:
        >>> backend = OnnxBackend("model.onnx", threads=2)    # doctest: +SKIP
        >>> backend(torch.zeros(4, 3, 32, 32)).shape           # doctest: +SKIP
        torch.Size([4, 10])
    """

    def __init__(self, model: str | Path | bytes, threads: int | None = None, device: str = "cpu") -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: optimiser notes are not for users
        configure_onnxruntime(options, threads)  # sightkit's thread count, no spin-waiting
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, options, providers=_providers(device))
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        batch = inputs[0].shape[0]
        self.fixed_batch: int | None = batch if isinstance(batch, int) and batch > 0 else None

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        array = batch.detach().cpu().contiguous().numpy().astype(np.float32, copy=False)
        if self.fixed_batch is None or len(array) == self.fixed_batch:
            return torch.from_numpy(self.run(array))
        step = self.fixed_batch
        chunks = []
        for start in range(0, len(array), step):
            chunk = array[start:start + step]
            if len(chunk) < step:
                chunk = np.concatenate([chunk, np.zeros((step - len(chunk), *chunk.shape[1:]), np.float32)])
            chunks.append(self.run(chunk)[: len(array) - start])
        return torch.from_numpy(np.concatenate(chunks))

    def run(self, array: np.ndarray) -> np.ndarray:
        """Logits of a float32 NCHW array whose batch size the model accepts."""
        return self.session.run([self.output_name], {self.input_name: array})[0]


def load_onnx_predictor(path: str | Path, device: str = "cpu", threads: int | None = None) -> Predictor:
    """A :class:`Predictor` over an ONNX file written by ``sightkit export`` or ``sightkit quantize``.

    A bundle (folder or ``.sightkit``) is exported first, once, into the ONNX cache
    (:func:`sightkit.deploy.onnx_cache.cached_onnx`).

    Example:
        >>> load_onnx_predictor("r18-int8.onnx", threads=2).classes  # doctest: +SKIP
        >>> load_onnx_predictor("runs/x/model").classes              # doctest: +SKIP
    """
    if is_bundle(path):
        from sightkit.deploy.onnx_cache import cached_onnx

        path = cached_onnx(path)
    meta = read_metadata(path)
    if meta["task"] != TASK:
        raise BundleError(f"{path}: this is a '{meta['task']}' model, not a '{TASK}' model; "
                          f"use the 'sightkit {meta['task']}' commands with it")
    return Predictor(OnnxBackend(path, threads, device), meta)


def _providers(device: str) -> list[str]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device in ("cuda", "auto") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "auto":
        return ["CPUExecutionProvider"]
    raise ConfigError(f"--device {device}: this onnxruntime has no CUDA provider; use --device cpu "
                      "or install onnxruntime-gpu")
