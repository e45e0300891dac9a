"""INT8 quantization with ONNX Runtime: static QDQ calibrated on real images, or dynamic.

Static (the default): weights int8 per output channel, activations uint8 with ranges
calibrated on a seeded sample of real images through the bundle's own preprocessing
(Percentile by default, MinMax or Entropy), in the QDQ format that ONNX Runtime fuses into integer
kernels (VNNI on recent x86, dot-product instructions on ARM). Dynamic: weights int8,
activation ranges computed at run time; for models (transformer-like, MatMul-heavy) or
situations where no calibration images are at hand.

The accuracy change is measured on labelled images (``val``) with both models on the same
decoded inputs; with ``max_drop`` a larger loss refuses to write the file.

Example:
    >>> result = quantize_bundle("runs/cifar/model", "model-int8.onnx", calib="data/train",
    ...                          val="data/val", max_drop=1.0)  # doctest: +SKIP
    >>> result.accuracy["drop_points"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from sightkit.core.fileio import atomic_write_bytes
from sightkit.deploy.export import DEFAULT_OPSET, check_exportable, check_parity, export_model, parity_inputs
from sightkit.deploy.onnx_meta import attach_metadata, read_metadata
from sightkit.deploy.onnx_predictor import OnnxBackend
from sightkit.errors import ConfigError, DataError, DeployError, ImageError
from sightkit.tasks.classify.predict import Predictor, expand_image_paths

MODES = ("static", "dynamic")
METHODS = ("minmax", "entropy", "percentile")
DEFAULT_CALIB_SIZE = 256
MAX_VAL_IMAGES = 1000  # when the validation images come from the calibration folder
MIN_STATIC_OPSET = 13  # per-channel QuantizeLinear needs opset 13
_BATCH = 32


@dataclass
class QuantizeResult:
    """The INT8 file, its size against FP32, and the accuracy change (None without labelled data)."""

    path: Path
    mode: str
    method: str | None
    size_bytes: int
    fp32_size_bytes: int
    n_calibration: int
    accuracy: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the size ratio."""
        return {**asdict(self), "path": str(self.path),
                "size_ratio": round(self.fp32_size_bytes / max(1, self.size_bytes), 3)}


def quantize_bundle(bundle: str | Path, out: str | Path, *, calib: str | Path | Sequence[Path] | None = None,
                    val: str | Path | Sequence[tuple[Path, str]] | None = None, mode: str = "static",
                    method: str = "percentile", calib_size: int = DEFAULT_CALIB_SIZE, per_channel: bool = True,
                    max_drop: float | None = None, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False,
                    seed: int = 0) -> QuantizeResult:
    """Quantize ``bundle`` to an INT8 ONNX file at ``out``; see the module docstring.

    ``calib``: images (folders, files, globs or a list of paths), of which ``calib_size`` are
    sampled. ``val``: labelled images (class folders or a manifest, or ``(path, class)``
    pairs); by default the labelled ``calib`` folder minus the calibration sample.
    ``max_drop``: the largest top-1 loss allowed, in percentage points.
    """
    _check_options(mode, method, calib, calib_size, opset)
    check_exportable(bundle, "onnx")
    predictor = Predictor.from_bundle(bundle)
    calib_paths = _calibration_images(calib, calib_size, seed) if calib is not None else []
    val_pairs, val_name = _validation_pairs(val, calib, set(calib_paths), seed)
    if max_drop is not None and not val_pairs:
        raise ConfigError("--max-drop needs labelled images to measure the drop: give --val DATA")
    calib_images = _calibration_tensors(predictor, calib_paths) if mode == "static" else None
    fp32 = export_model(predictor, opset=opset, dynamic_batch=dynamic_batch, source=str(bundle))
    fp32_bytes = fp32.SerializeToString()
    check_parity(predictor, fp32_bytes, parity_inputs(predictor, calib_paths[:16]))
    with tempfile.TemporaryDirectory(prefix="sightkit-quantize-") as tmp, _quiet_quantizer():
        int8, n_calibration = _quantize(fp32, Path(tmp), mode, method, per_channel, calib_images)
    accuracy = None
    if val_pairs:
        accuracy = compare_accuracy(predictor.meta, fp32_bytes, int8.SerializeToString(), val_pairs)
        accuracy["data"] = val_name
        if max_drop is not None and accuracy["drop_points"] > max_drop:
            raise DeployError(f"INT8 loses {accuracy['drop_points']:.2f} points of top-1 ({accuracy['fp32']:.4f} -> "
                              f"{accuracy['int8']:.4f} on {accuracy['n']} images), above --max-drop {max_drop}; "
                              "nothing written (try --method entropy or percentile, or more --calib-size)")
    meta = read_metadata(fp32)
    meta["quantization"] = {
        "mode": mode, "method": method if mode == "static" else None, "format": "QDQ" if mode == "static" else "QOperator",
        "weights": "int8 per-channel" if per_channel else "int8 per-tensor",
        "activations": "uint8 (calibrated)" if mode == "static" else "uint8 (dynamic)",
        "calibration_images": n_calibration, "calibration_data": _describe(calib),
        "accuracy": accuracy,
    }
    data = attach_metadata(int8, meta).SerializeToString()
    path = atomic_write_bytes(Path(out), data)
    return QuantizeResult(path, mode, meta["quantization"]["method"], len(data), len(fp32_bytes),
                          n_calibration, accuracy)


def compare_accuracy(meta: dict[str, Any], fp32: bytes, int8: bytes,
                     pairs: Sequence[tuple[Path, str]]) -> dict[str, Any]:
    """Top-1 of both ONNX models on the same decoded ``pairs``, the drop in points and their agreement."""
    reference = Predictor(OnnxBackend(fp32), meta)
    quantized = Predictor(OnnxBackend(int8), meta)
    index = {name: i for i, name in enumerate(reference.classes)}
    unknown = sorted({c for _, c in pairs} - set(index))
    if unknown:
        raise DataError(f"--val: classes unknown to the model: {', '.join(unknown)}")
    correct_fp32 = correct_int8 = agree = n = 0
    for tensors, labels in _batches(reference, pairs, index):
        top_fp32, top_int8 = reference.logits(tensors).argmax(1), quantized.logits(tensors).argmax(1)
        correct_fp32 += int((top_fp32 == labels).sum())
        correct_int8 += int((top_int8 == labels).sum())
        agree += int((top_fp32 == top_int8).sum())
        n += len(labels)
    if n == 0:
        raise DataError("--val: no readable images")
    fp32_acc, int8_acc = correct_fp32 / n, correct_int8 / n
    return {"fp32": fp32_acc, "int8": int8_acc, "drop_points": round(100 * (fp32_acc - int8_acc), 3),
            "agreement": agree / n, "n": n}


def _describe(images: str | Path | Sequence[Path] | None) -> str | None:
    if images is None or isinstance(images, (str, Path)):
        return None if images is None else str(images)
    return f"{len(images)} listed images"


def _check_options(mode: str, method: str, calib: Any, calib_size: int, opset: int) -> None:
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: choose one of {', '.join(MODES)}")
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    if calib_size < 1:
        raise ConfigError(f"--calib-size {calib_size}: must be at least 1")
    if mode == "static":
        if calib is None:
            raise ConfigError("static INT8 needs --calib DATA (a folder of real images like those the model "
                              "will see); or use --mode dynamic")
        if opset < MIN_STATIC_OPSET:
            raise ConfigError(f"--opset {opset}: static per-channel INT8 needs opset {MIN_STATIC_OPSET} or newer")


def _calibration_images(calib: str | Path | Sequence[Path], size: int, seed: int) -> list[Path]:
    try:
        paths = expand_image_paths([calib] if isinstance(calib, (str, Path)) else list(calib))
    except DataError:
        raise DataError(f"--calib {calib}: no images found; give a folder of real images like those "
                        "the model will see") from None
    if len(paths) > size:
        paths = sorted(random.Random(seed).sample(paths, size))
    return paths


def _validation_pairs(val: Any, calib: Any, calib_paths: set[Path],
                      seed: int) -> tuple[list[tuple[Path, str]], str | None]:
    from sightkit.data.discover import read_labelled_images

    if val is not None:
        pairs = read_labelled_images(val)[0] if isinstance(val, (str, Path)) else list(val)
        return pairs, str(val) if isinstance(val, (str, Path)) else f"{len(pairs)} labelled images"
    if not isinstance(calib, (str, Path)) or not Path(calib).is_dir():
        return [], None
    try:
        pairs = [p for p in read_labelled_images(calib)[0] if p[0] not in calib_paths]
    except DataError:  # calibration images without class folders: nothing to measure on
        return [], None
    if len(pairs) > MAX_VAL_IMAGES:
        pairs = random.Random(seed + 1).sample(pairs, MAX_VAL_IMAGES)
    return pairs, f"{calib} ({len(pairs)} labelled images not used for calibration)"


def _quantize(fp32: onnx.ModelProto, tmp: Path, mode: str, method: str, per_channel: bool,
              calib_images: torch.Tensor | None) -> tuple[onnx.ModelProto, int]:
    """The INT8 model and the number of calibration images it was calibrated on."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, prepared, target = tmp / "fp32.onnx", tmp / "prepared.onnx", tmp / "int8.onnx"
    onnx.save(fp32, str(source))
    quant_pre_process(str(source), str(prepared))  # shape inference + graph clean-up, as ORT advises
    if mode == "dynamic":
        quantize_dynamic(str(prepared), str(target), per_channel=per_channel, weight_type=QuantType.QInt8)
        return onnx.load(str(target)), 0
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    fixed_batch = fp32.graph.input[0].type.tensor_type.shape.dim[0].dim_value  # 0 when dynamic
    reader: _CalibrationReader | None = _CalibrationReader(calib_images, fixed_batch or _BATCH)
    n_used, cache = reader.n_used, None
    if method == "entropy":
        cache, reader = _entropy_ranges(prepared, tmp, reader), None
    quantize_static(str(prepared), str(target), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=methods[method], calibration_cache_path=cache)
    return onnx.load(str(target)), n_used


def _entropy_ranges(model: Path, tmp: Path, reader: _CalibrationReader) -> Path:
    """KL-divergence ranges over 2048 histogram bins, written as a calibration cache.

    ``quantize_static`` builds its entropy calibrator with 128 bins and 128 quantized bins,
    which leaves the KL search a single candidate (the full range, i.e. MinMax); TensorRT's
    method, which it follows, uses 2048 bins.
    """
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator, save_tensors_data

    calibrator = create_calibrator(model, None, augmented_model_path=str(tmp / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.Entropy,
                                   extra_options={"num_bins": 2048, "num_quantized_bins": 128})
    calibrator.collect_data(reader)
    cache = tmp / "entropy-ranges.json"
    save_tensors_data(calibrator.compute_data(), cache)
    return cache


def _batches(predictor: Predictor, pairs: Sequence[tuple[Path, str]],
             index: dict[str, int]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(pairs), _BATCH):
        tensors, labels = [], []
        for path, name in pairs[start:start + _BATCH]:
            with contextlib.suppress(ImageError):  # unreadable files do not count
                tensors.append(predictor.preprocess(path))
                labels.append(index[name])
        if tensors:
            yield torch.stack(tensors), torch.tensor(labels)


class _CalibrationReader:
    """Feeds the preprocessed calibration images to ONNX Runtime's calibrator, batch by batch."""

    def __init__(self, images: torch.Tensor, batch: int) -> None:
        from sightkit.deploy.export import INPUT_NAME

        chunks = images.split(batch)
        if len(chunks) > 1 and len(chunks[-1]) < batch:  # ORT's histogram calibrators need equal batches
            chunks = chunks[:-1]
        self.n_used = sum(len(c) for c in chunks)
        self._iter = iter([{INPUT_NAME: chunk.numpy()} for chunk in chunks])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)


def _calibration_tensors(predictor: Predictor, paths: list[Path]) -> torch.Tensor:
    tensors = []
    for path in paths:
        with contextlib.suppress(ImageError):
            tensors.append(predictor.preprocess(path))
    if not tensors:
        raise DataError(f"--calib: none of the {len(paths)} calibration images could be read")
    return torch.stack(tensors)


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """ONNX Runtime's quantization tools log advice on the root logger and print calibration progress
    to stdout; keep both off the console (and out of ``--json`` output)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)
