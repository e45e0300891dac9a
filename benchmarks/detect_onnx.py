"""ONNX Runtime vs PyTorch per 1080p frame, for every detector, and box parity on real street frames.

Each registered detector (random weights, built for the street set's 9 classes, at
``--image-size``; SSDlite at its fixed 320x320) is saved as a bundle, exported with
``sightkit export``'s code path (:func:`sightkit.deploy.export.export_onnx`, parity-checked),
and both versions run ``Detector.predict`` on the same 1920x1080 frame: shrinking, the
model, and scaling the boxes back. Timing is round-robin (:func:`sightkit.deploy.bench.time_calls`),
so load from other processes hits both alike; the ratio ONNX / PyTorch is the figure to read.

With ``--bundle`` (default: the street run of ``detect_street.py``, when present) the trained
detector is also exported with real street frames as parity samples, timed the same way,
and its boxes on ``--frames`` street frames are compared (matched share, largest differences).

    SIGHTKIT_THREADS=1 python benchmarks/detect_onnx.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _common import SHARED_DATA, write_result


def _frame():  # noqa: ANN202 - a PIL image
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8))


def _compare(bundle: Path, onnx: Path, frame, warmup: int, repeats: int) -> dict:  # noqa: ANN001
    from sightkit.deploy.bench import time_calls
    from sightkit.tasks.detect.api import Detector

    torch_detector, onnx_detector = Detector.load(bundle), Detector.load(onnx)
    times = time_calls([lambda: torch_detector.predict(frame, score=0.3),
                        lambda: onnx_detector.predict(frame, score=0.3)], warmup, repeats)
    torch_ms, onnx_ms = (round(statistics.median(t) * 1000, 1) for t in times)
    return {"torch_ms_per_1080p_frame": torch_ms, "onnx_ms_per_1080p_frame": onnx_ms,
            "onnx_over_torch": round(onnx_ms / torch_ms, 3), "onnx_file_mb": round(onnx.stat().st_size / 2**20, 2)}


def _random_detectors(models: list[str], image_size: int, folder: Path, warmup: int, repeats: int) -> dict:
    import torch

    from sightkit.core.bundle import save_bundle
    from sightkit.deploy.export import export_onnx
    from sightkit.errors import SightkitError
    from sightkit.tasks.detect.model import build_detector

    frame, results = _frame(), {}
    classes = [f"c{i}" for i in range(9)]
    for name in models:
        torch.manual_seed(0)
        meta = {"task": "detect", "classes": classes, "thresholds": {"score": 0.3, "nms": 0.5},
                "architecture": {"name": name, "num_classes": len(classes), "image_size": image_size}}
        bundle = save_bundle(folder / name, build_detector(name, len(classes), image_size).state_dict(), meta)
        try:
            exported = export_onnx(bundle, folder / f"{name}.onnx")
        except SightkitError as exc:
            results[name] = {"error": str(exc)}
            print(name, "error:", exc, flush=True)
            continue
        results[name] = {**_compare(bundle, exported.path, frame, warmup, repeats), "parity": exported.parity}
        print(name, results[name], flush=True)
    return results


def _trained(bundle: Path, data: Path, folder: Path, frames: int, warmup: int, repeats: int) -> dict:
    import torch

    from sightkit.core.images import load_image
    from sightkit.deploy.detect_export import SCORE_TOLERANCE, match_detections
    from sightkit.deploy.export import export_onnx
    from sightkit.tasks.detect.api import Detector

    images = sorted((data / "JPEGImages").glob("*.jpg"))[:frames]
    exported = export_onnx(bundle, folder / "trained.onnx", samples=images[:4])
    torch_detector, onnx_detector = Detector.load(bundle), Detector.load(exported.path)
    matched = total = 0
    worst_box = worst_score = 0.0
    for path in images:
        picture = load_image(path, "RGB")
        found = [torch_detector.predict(picture, score=0.05), onnx_detector.predict(picture, score=0.05)]
        as_tensors = [{"boxes": torch.tensor([[b.x1, b.y1, b.x2, b.y2] for b in boxes]).reshape(-1, 4),
                       "scores": torch.tensor([b.score for b in boxes]),
                       "labels": torch.tensor([torch_detector.classes.index(b.label) for b in boxes])}
                      for boxes in found]
        counts = match_detections(*as_tensors, box_tolerance=1e-3 * 1920, score_tolerance=SCORE_TOLERANCE, cap=100)
        matched, total = matched + counts["matched"], total + counts["boxes"]
        worst_box, worst_score = max(worst_box, counts["max_box_diff_px"]), max(worst_score, counts["max_score_diff"])
    return {"bundle": str(bundle), "export_parity": exported.parity,
            **_compare(bundle, exported.path, load_image(images[0], "RGB"), warmup, repeats),
            "street_frames": {"frames": len(images), "boxes_score_above_0.05": total, "matched": matched,
                              "max_box_diff_px_1080p": worst_box, "max_score_diff": worst_score}}


def main() -> None:
    from sightkit import Detector  # noqa: F401 - through the lazy export: thread set-up before torch loads
    from sightkit.tasks.detect.model import DETECTORS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DETECTORS), help="comma list of detectors")
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--bundle", type=Path, default=Path("runs") / "bench-detect-street" / "model")
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "street_voc")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default="detect_onnx")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="detect-onnx-") as tmp:
        trained = None
        if args.bundle.exists() and args.data.exists():
            trained = _trained(args.bundle, args.data, Path(tmp), args.frames, args.warmup, args.repeats)
            print("trained", trained, flush=True)
        models = [m for m in args.models.split(",") if m]
        random = _random_detectors(models, args.image_size, Path(tmp), args.warmup, args.repeats)
    write_result(args.name, {
        "what": "Detector.predict on a 1920x1080 frame (shrink, model, boxes scaled back), PyTorch eager vs "
                "the ONNX file of sightkit export on ONNX Runtime, round-robin in one process; median ms",
        "image_size": args.image_size, "warmup": args.warmup, "repeats": args.repeats,
        "trained_street_detector": trained,
        "random_weights": random,
        "note": "2 CPU cores shared with other jobs; read the ratios, not the absolute times",
    })


if __name__ == "__main__":
    main()
