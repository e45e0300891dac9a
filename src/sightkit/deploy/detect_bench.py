"""``sightkit bench`` for detectors: latency per 1080p frame, PyTorch vs ONNX Runtime, and file sizes.

Every variant runs ``predict`` on the same seeded 1920x1080 frame: shrinking to the bundle's
size, the detector, scaling the boxes back; "batch" ``b`` is ``b`` frames per call (the
ONNX file takes one image per call, so its frames run one after another). Timing is the
classifier bench's round-robin (:func:`sightkit.deploy.bench.time_calls`). INT8 and accuracy
are not measured for detectors (use ``sightkit detect evaluate`` for mAP); the result has the
classifier bench's shape, so the same table and JSON apply.

Example:
    >>> result = bench_detectors(["runs/street/model"], backends=("torch", "onnx"), batches=(1,))  # doctest: +SKIP
    >>> [(v["name"], v["latency_ms"]["1"]["p50"]) for v in result["variants"]]  # doctest: +SKIP
    [('torch', 199.0), ('onnx', 141.2)]
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sightkit.errors import ConfigError
from sightkit.tasks.detect.predict import DetectPredictor

FRAME_SIZE = (1920, 1080)


def bench_detectors(bundles: Sequence[str | Path], backends: Sequence[str], batches: Sequence[int],
                    threads: int, warmup: int, repeats: int, status: Callable[[str], None]) -> dict[str, Any]:
    """Time every (bundle, backend) variant of detect bundles or their ``.onnx`` files (see the module docstring)."""
    from sightkit.deploy.bench import _labels, _peak_rss_mb, _reset_peak_rss, _stats, time_calls

    frame = Image.fromarray(np.random.default_rng(0).integers(0, 255, (*FRAME_SIZE[::-1], 3), dtype=np.uint8))
    rows: list[dict[str, Any]] = []
    predictors: list[DetectPredictor] = []
    with tempfile.TemporaryDirectory(prefix="sightkit-bench-") as tmp:
        for bundle, label in zip(bundles, _labels([Path(b) for b in bundles])):
            bundle = Path(bundle)
            for backend in (["onnx"] if bundle.suffix == ".onnx" else backends):
                if backend == "onnx-int8":
                    status(f"onnx-int8 skipped for {bundle}: INT8 quantization of detectors is not supported")
                    continue
                _reset_peak_rss()
                status(f"preparing {bundle} ({backend})")
                predictor, size = _load(bundle, backend, Path(tmp) / f"{len(rows)}.onnx", threads)
                predictor.predict(frame)
                predictors.append(predictor)
                name = backend if label is None else label if bundle.suffix == ".onnx" else f"{label}:{backend}"
                rows.append({"name": name, "backend": backend, "source": str(bundle), "file_size_bytes": size,
                             "file_size_mb": round(size / 2**20, 3), "peak_rss_mb": _peak_rss_mb(),
                             "accuracy": None, "calibration": None})
        if not rows:
            raise ConfigError("nothing to benchmark: detectors have no onnx-int8 variant; add --backends torch,onnx")
        timings = {}
        for batch in batches:
            status(f"timing {batch} frame(s) per call: {warmup} warm-up + {repeats} repeats per variant")
            calls = [_call(p, [frame] * batch) for p in predictors]
            timings[batch] = time_calls(calls, warmup, repeats)
    for i, row in enumerate(rows):
        latency = {str(b): _stats(timings[b][i]) for b in batches}
        row.update(latency_ms=latency, throughput_ips={str(b): round(b * 1000 / latency[str(b)]["p50"], 2)
                                                       for b in batches})
    return {"threads": threads, "batches": list(batches), "warmup": warmup, "repeats": repeats, "data": None,
            "input": f"a {FRAME_SIZE[0]}x{FRAME_SIZE[1]} frame per image (predict: shrink, detector, boxes)",
            "variants": rows}


def _load(bundle: Path, backend: str, target: Path, threads: int) -> tuple[DetectPredictor, int]:
    from sightkit.deploy.detect_onnx import load_onnx_detector

    if bundle.suffix == ".onnx":
        return load_onnx_detector(bundle, threads=threads), bundle.stat().st_size
    if backend == "torch":
        weights = bundle / "weights.safetensors" if bundle.is_dir() else bundle
        return DetectPredictor.from_bundle(bundle), weights.stat().st_size
    from sightkit.deploy.export import export_onnx

    export_onnx(bundle, target)
    return load_onnx_detector(target, threads=threads), target.stat().st_size


def _call(predictor: DetectPredictor, frames: list[Image.Image]) -> Callable[[], Any]:
    return lambda: predictor.predict_batch(frames)
