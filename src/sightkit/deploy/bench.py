"""``sightkit bench``: latency, throughput, file size, peak memory and accuracy per model variant.

Each bundle is measured as the chosen backends: ``torch`` (eager PyTorch), ``onnx`` (FP32
ONNX Runtime) and ``onnx-int8`` (static INT8, calibrated on real images: ``calib``, else
``data``, else the bundle's recorded validation split; without any of them the INT8 variant
is skipped with a note); an ``.onnx`` file is measured as it is. All variants take the same
inputs; detectors are timed per 1080p frame (:mod:`sightkit.deploy.detect_bench`). Timing is
round-robin: after ``warmup`` calls each, every repeat runs each variant once in turn, so
load from other processes hits all of them alike and their ratios stay stable on a shared
machine (the order alternates each round).
Latency is reported as p50/p95 per call; throughput as images/s at the median.
Every backend uses the same number of threads (``torch.set_num_threads`` and
ONNX Runtime's ``intra_op_num_threads``): ``threads``, or else the process-wide setting
(``torch.get_num_threads()``, which ``sightkit --threads N`` sets).

Example:
    >>> result = bench(["runs/cifar/model"], batches=(1, 32), data="data/cifar/val")  # doctest: +SKIP
    >>> [(v["name"], v["latency_ms"]["1"]["p50"]) for v in result["variants"]]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sightkit.core.fileio import atomic_write_bytes, atomic_write_text
from sightkit.deploy.onnx_predictor import load_onnx_predictor
from sightkit.errors import ConfigError, DataError, ImageError
from sightkit.tasks.classify.predict import Predictor

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")
DEFAULT_BATCHES = (1, 8, 32)
MAX_ACCURACY_IMAGES = 2000


@dataclass
class _Variant:
    name: str
    backend: str
    source: str
    predictor: Predictor
    size_bytes: int
    peak_rss_mb: float | None = None
    calibration: str | None = None  # what an INT8 variant was calibrated on


def bench(bundles: Sequence[str | Path], backends: Sequence[str] = BACKENDS,
          batches: Sequence[int] = DEFAULT_BATCHES, data: str | Path | None = None,
          calib: str | Path | None = None, threads: int | None = None, warmup: int = 3, repeats: int = 20,
          status: Callable[[str], None] = log.info) -> dict[str, Any]:
    """Measure every (bundle, backend) variant; returns a JSON-ready dict (see the module docstring).

    ``data``: labelled images for accuracy (and, without ``calib``, INT8 calibration).
    """
    _check(backends, batches, warmup, repeats, threads)
    detectors = _are_detectors(bundles)
    if detectors and (data is not None or calib is not None):
        raise ConfigError("--data / --calib: detectors are timed only; measure their mAP with 'sightkit detect evaluate'")
    pairs = _labelled_images(data) if data is not None else None  # a bad --data fails before any model loads
    previous_threads = torch.get_num_threads()
    threads = threads or previous_threads
    torch.set_num_threads(threads)
    try:
        if detectors:
            from sightkit.deploy.detect_bench import bench_detectors

            return bench_detectors(bundles, backends, batches, threads, warmup, repeats, status)
        with tempfile.TemporaryDirectory(prefix="sightkit-bench-") as tmp:
            variants = []
            labels = _labels([Path(b) for b in bundles])
            for bundle, label in zip(bundles, labels):
                for backend in (["onnx"] if Path(bundle).suffix == ".onnx" else backends):
                    images, described = None, None
                    if backend == "onnx-int8":
                        images, described = _calibration(Path(bundle), calib or data, status)
                        if images is None:
                            continue
                    _reset_peak_rss()
                    status(f"preparing {bundle} ({backend})")
                    variant = _load(Path(bundle), backend, Path(tmp), images, threads, label)
                    variant.calibration = described
                    variant.predictor.logits(_inputs(variant.predictor, max(batches)))  # the largest batch's memory
                    variant.peak_rss_mb = _peak_rss_mb()
                    variants.append(variant)
            if not variants:
                raise ConfigError("nothing to benchmark: onnx-int8 needs images to calibrate on; give --calib DATA "
                                  "or --data VAL, or add --backends torch,onnx")
            timings = {b: _time_round_robin(variants, b, warmup, repeats, status) for b in batches}
            accuracy = _accuracies(variants, pairs, str(data), status) if pairs is not None else {}
    finally:
        torch.set_num_threads(previous_threads)
    rows = []
    for i, v in enumerate(variants):
        latency = {str(b): _stats(timings[b][i]) for b in batches}
        rows.append({"name": v.name, "backend": v.backend, "source": v.source, "file_size_bytes": v.size_bytes,
                     "file_size_mb": round(v.size_bytes / 2**20, 3), "peak_rss_mb": v.peak_rss_mb,
                     "accuracy": accuracy.get(v.name), "calibration": v.calibration, "latency_ms": latency,
                     "throughput_ips": {str(b): round(b * 1000 / latency[str(b)]["p50"], 1) for b in batches}})
    return {"threads": threads, "batches": list(batches), "warmup": warmup, "repeats": repeats,
            "data": None if data is None else str(data), "variants": rows}


def time_calls(functions: Sequence[Callable[[], Any]], warmup: int = 3, repeats: int = 20) -> list[list[float]]:
    """Seconds per call of each function, measured round-robin after ``warmup`` calls each.

    Rounds alternate forward and backward order (A B C, C B A, ...), so no function always
    runs right after the same neighbour, whose thread pool may still be spinning.

    Example:
        >>> times = time_calls([lambda: sum(range(1000)), lambda: sum(range(2000))], 1, 5)
        >>> len(times), len(times[0])
        (2, 5)
    """
    for fn in functions:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in functions]
    for repeat in range(repeats):
        order = range(len(functions)) if repeat % 2 == 0 else range(len(functions) - 1, -1, -1)
        for i in order:
            fn = functions[i]
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return times


def write_bench_outputs(result: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``bench.json`` and, when accuracy was measured, ``accuracy_latency.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": atomic_write_text(out_dir / "bench.json", json.dumps(result, indent=2))}
    if any(v["accuracy"] is not None for v in result["variants"]):
        import io

        buffer = io.BytesIO()
        plot_accuracy_latency(result).savefig(buffer, format="png", dpi=120)
        paths["plot"] = atomic_write_bytes(out_dir / "accuracy_latency.png", buffer.getvalue())
    return paths


def plot_accuracy_latency(result: dict[str, Any]) -> Any:
    """Accuracy against p50 latency at the smallest batch, one labelled point per variant (a Figure)."""
    from matplotlib.figure import Figure

    batch = str(min(result["batches"]))
    figure = Figure(figsize=(6, 4.2))
    axes = figure.add_subplot()
    for v in result["variants"]:
        if v["accuracy"] is None:
            continue
        x, y = v["latency_ms"][batch]["p50"], 100 * v["accuracy"]
        axes.scatter([x], [y], s=30 + 20 * v["file_size_mb"] ** 0.5)
        axes.annotate(f"{v['name']} ({v['file_size_mb']:.1f} MB)", (x, y), textcoords="offset points",
                      xytext=(5, 5), fontsize=8)
    axes.set_xlabel(f"latency p50 at batch {batch} (ms, {result['threads']} threads)")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_title("accuracy vs latency (marker area ~ file size)")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _check(backends: Sequence[str], batches: Sequence[int], warmup: int, repeats: int, threads: int | None) -> None:
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise ConfigError(f"--backends {','.join(backends)}: choose from {','.join(BACKENDS)}")
    if not batches or min(batches) < 1:
        raise ConfigError("--batch: give batch sizes of at least 1, e.g. 1,8,32")
    if warmup < 0 or repeats < 1 or (threads is not None and threads < 1):
        raise ConfigError("--warmup must be >= 0, --repeats and --threads >= 1")


def _are_detectors(bundles: Sequence[str | Path]) -> bool:
    """Whether the sources are detectors (all of them); mixing detectors and classifiers is refused."""
    from sightkit.core.bundle import read_meta
    from sightkit.deploy.onnx_meta import read_metadata

    tasks = {(read_metadata(b) if Path(b).suffix == ".onnx" else read_meta(b))["task"] for b in bundles}
    if "detect" in tasks and len(tasks) > 1:
        raise ConfigError("bench: give detectors or classifiers, not both in one run")
    return tasks == {"detect"}


def _calibration(bundle: Path, given: str | Path | None,
                 status: Callable[[str], None]) -> tuple[str | Path | list[Path] | None, str | None]:
    """INT8 calibration images of ``bundle`` and what they are: ``given``, else the bundle's
    recorded validation split, else ``(None, None)`` after a note that INT8 is skipped."""
    if given is not None:
        return given, str(given)
    from sightkit.tasks.classify.splits import recorded_split

    pairs = recorded_split(bundle, "val")
    if pairs:
        status(f"onnx-int8: calibrating on the recorded validation split of {bundle} ({len(pairs)} images)")
        return [path for path, _ in pairs], f"recorded validation split ({len(pairs)} images)"
    why = "its training run had no validation split" if pairs == [] else "its validation images cannot be found"
    status(f"onnx-int8 skipped for {bundle}: {why} (give --calib DATA or --data VAL to measure it)")
    return None, None


def _labels(bundles: list[Path]) -> list[str | None]:
    """How each source is named in variant names: nothing for one, else its stem (with its folder
    when two stems are alike, e.g. ``a/model`` and ``b/model``)."""
    if len(bundles) == 1:
        return [None if bundles[0].suffix != ".onnx" else bundles[0].stem]
    if len({(b.stem, b.suffix == ".onnx") for b in bundles}) == len(bundles):  # "x" and "x.onnx" do not clash
        return [b.stem for b in bundles]
    return [f"{b.parent.name}/{b.stem}" for b in bundles]


def _load(bundle: Path, backend: str, tmp: Path, calib: str | Path | list[Path] | None, threads: int,
          label: str | None) -> _Variant:
    name = backend if label is None else label if bundle.suffix == ".onnx" else f"{label}:{backend}"
    if bundle.suffix == ".onnx":
        return _Variant(name, "onnx", str(bundle), load_onnx_predictor(bundle, threads=threads),
                        bundle.stat().st_size)
    if backend == "torch":
        weights = bundle / "weights.safetensors" if bundle.is_dir() else bundle
        return _Variant(name, backend, str(bundle), Predictor.from_bundle(bundle), weights.stat().st_size)
    path = tmp / f"{len(list(tmp.iterdir()))}-{backend}.onnx"
    if backend == "onnx":
        from sightkit.deploy.export import export_onnx

        export_onnx(bundle, path, dynamic_batch=True)
    else:
        from sightkit.deploy.quantize import quantize_bundle

        quantize_bundle(bundle, path, calib=calib, val=[], dynamic_batch=True)
    predictor = load_onnx_predictor(path, threads=threads)
    return _Variant(name, backend, str(bundle), predictor, path.stat().st_size)


def _inputs(predictor: Predictor, batch: int) -> torch.Tensor:
    channels = 1 if predictor.mode == "L" else 3
    generator = torch.Generator().manual_seed(batch)
    return torch.randn(batch, channels, predictor.size, predictor.size, generator=generator)


def _time_round_robin(variants: list[_Variant], batch: int, warmup: int, repeats: int,
                      status: Callable[[str], None]) -> list[list[float]]:
    status(f"timing batch {batch}: {warmup} warm-up + {repeats} repeats per variant")
    calls = [_call(v.predictor, _inputs(v.predictor, batch)) for v in variants]
    return time_calls(calls, warmup, repeats)


def _call(predictor: Predictor, inputs: torch.Tensor) -> Callable[[], Any]:
    return lambda: predictor.logits(inputs)


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 3), "p95": round(float(np.percentile(ms, 95)), 3),
            "mean": round(float(ms.mean()), 3)}


def _labelled_images(data: str | Path) -> list[tuple[Path, str]]:
    from sightkit.data.discover import read_labelled_images

    return read_labelled_images(data)[0][:MAX_ACCURACY_IMAGES]


def _accuracies(variants: list[_Variant], pairs: list[tuple[Path, str]], data: str,
                status: Callable[[str], None]) -> dict[str, float]:
    status(f"accuracy on {len(pairs)} images of {data}")
    decoded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    result = {}
    for v in variants:
        p = v.predictor
        prep = p.meta["preprocessing"]
        key = json.dumps([p.mode, p.size, prep["mean"], prep["std"], p.classes])
        if key not in decoded:  # decode once per preprocessing
            decoded[key] = _decode(p, pairs)
        images, labels = decoded[key]
        predicted = torch.cat([p.logits(chunk).argmax(1) for chunk in images.split(64)])
        result[v.name] = float((predicted == labels).float().mean())
    return result


def _decode(predictor: Predictor, pairs: list[tuple[Path, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    index = {c: i for i, c in enumerate(predictor.classes)}
    unknown = sorted({c for _, c in pairs} - set(index))
    if unknown:
        raise DataError(f"--data: classes unknown to the model: {', '.join(unknown)}")
    tensors, labels = [], []
    for path, name in pairs:
        with contextlib.suppress(ImageError):
            tensors.append(predictor.preprocess(path))
            labels.append(index[name])
    if not tensors:
        raise DataError("--data: no readable images")
    return torch.stack(tensors), torch.tensor(labels)


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (Linux; elsewhere the peak covers the whole process)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    with contextlib.suppress(OSError):
        match = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
        if match:
            return round(int(match.group(1)) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # kB on Linux
