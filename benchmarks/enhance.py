"""Super-resolution: Set5 quality of the shipped models, tiling parity / seams / overhead, CPU speed.

* Set5 Y-PSNR / Y-SSIM (``scale`` px border crop, LR by Pillow antialiased bicubic) of every
  shipped model beside bicubic, and the no-reference sharpness of model, bicubic and HR.
* Tiling: max |tiled - untiled| (0-1 range) on an image that fits untiled; the largest step
  between adjacent rows / columns at tile borders vs elsewhere on a smooth gradient; tiled
  time / untiled time on a 512x512 input (4 tiles of 256) at x4.
* Speed: ms to upscale a 256x256 RGB image x4 (whole pipeline, PyTorch) with 1 and 2
  threads, and the model alone in PyTorch and ONNX Runtime (exported here with
  ``torch.onnx.export``; ``sightkit export`` will replace that once the deploy issue lands).

    python benchmarks/enhance.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import SHARED_DATA, write_result
from PIL import Image

from sightkit.core.bundle import read_meta
from sightkit.tasks.enhance.api import Upscaler
from sightkit.tasks.enhance.shipped import shipped_models
from sightkit.tasks.enhance.tiling import DEFAULT_OVERLAP, tiled_upscale

QUALITY_KEYS = ("psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y", "sharpness", "bicubic_sharpness",
                "hr_sharpness")
PUBLISHED_SET5 = {"x2": {"bicubic": 33.66, "SRCNN": 36.66, "FSRCNN": 37.00, "ESPCN": None},
                  "x4": {"bicubic": 28.42, "SRCNN": 30.48, "FSRCNN": 30.71, "ESPCN": 30.90}}


def _timed(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def quality(set5: Path) -> dict:
    out = {}
    for name, path in shipped_models().items():
        report = Upscaler.load(name).evaluate(set5)
        meta = read_meta(path)
        out[name] = {**{k: round(report[k], 4) for k in QUALITY_KEYS},
                     "per_image_psnr_y": {k: round(v["psnr_y"], 3) for k, v in report["per_image"].items()},
                     "parameters": meta["parameters"], "file_bytes": path.stat().st_size,
                     "train_command": meta["training"]["command"]}
        print(name, out[name], flush=True)
    return out


def tiling(model: torch.nn.Module, scale: int, repeats: int) -> dict:
    context = int(model.receptive_radius)
    torch.manual_seed(0)
    with torch.inference_mode():
        x = torch.rand(1, 1, 200, 300)
        parity = float((model(x) - tiled_upscale(model, x, scale, 64, DEFAULT_OVERLAP, context)).abs().max())
        ramp = torch.linspace(0.1, 0.9, 256)
        smooth = (0.5 * ramp[None, :] + 0.5 * ramp[:, None])[None, None]
        out = tiled_upscale(model, smooth, scale, 64, DEFAULT_OVERLAP, context)[0, 0].numpy()
        borders = [64 * k * scale - 1 for k in (1, 2, 3)]
        rows, cols = np.abs(np.diff(out, axis=0)), np.abs(np.diff(out, axis=1))
        inner = np.setdiff1d(np.arange(rows.shape[0]), borders)
        big = torch.rand(1, 1, 512, 512)
        untiled_ms = _timed(lambda: model(big), repeats)
        tiled_ms = _timed(lambda: tiled_upscale(model, big, scale, 256, DEFAULT_OVERLAP, context), repeats)
    return {"parity_max_abs": parity, "parity_image": "200x300 random, tile 64",
            "seam_border_max_step": float(max(rows[borders].max(), cols[:, borders].max())),
            "seam_elsewhere_max_step": float(max(rows[inner].max(), cols[:, inner].max())),
            "time_image": "512x512 input, x4, tile 256 (4 tiles)", "untiled_ms": round(untiled_ms, 1),
            "tiled_ms": round(tiled_ms, 1), "tiled_over_untiled": round(tiled_ms / untiled_ms, 3)}


def speed(upscaler: Upscaler, repeats: int) -> dict:
    import onnxruntime as ort

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
    model = upscaler.predictor.model
    y = torch.rand(1, 1, 256, 256)
    result = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        result[f"pipeline_ms_torch_{threads}t"] = round(_timed(lambda: upscaler.upscale(image), repeats), 1)
        with torch.inference_mode():
            result[f"model_ms_torch_{threads}t"] = round(_timed(lambda: model(y), repeats), 1)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "sr.onnx"
        torch.onnx.export(model, (y,), str(onnx_path), input_names=["lr"], output_names=["sr"], dynamo=False,
                          dynamic_axes={"lr": {2: "h", 3: "w"}, "sr": {2: "H", 3: "W"}}, opset_version=17)
        for threads in (1, 2):
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            feed = {"lr": y.numpy()}
            result[f"model_ms_onnxruntime_{threads}t"] = round(_timed(lambda: session.run(None, feed), repeats), 1)
        with torch.inference_mode():
            ort_out = session.run(None, {"lr": y.numpy()})[0]
            result["onnx_max_abs_diff"] = float(np.abs(ort_out - model(y).numpy()).max())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set5", type=Path, default=SHARED_DATA / "sr" / "Set5")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not args.set5.is_dir():
        raise SystemExit(f"{args.set5} not found (needs ../shared/data)")
    threads = torch.get_num_threads()
    results = {"set5": quality(args.set5), "published_set5_psnr_y": PUBLISHED_SET5}
    torch.set_num_threads(threads)
    x4 = Upscaler.load("default-x4")
    results["tiling"] = tiling(x4.predictor.model, 4, args.repeats)
    print("tiling", results["tiling"], flush=True)
    results["speed_256_x4"] = speed(x4, args.repeats)
    write_result("enhance", results)


if __name__ == "__main__":
    main()
