"""Inpainting quality of the shipped models on held-out images, beside OpenCV's Telea and Navier-Stokes.

The issue's figure: in-hole PSNR at 20-30% masks at least 1.0 dB above Telea on held-out
images of each shipped model's domain. Both folders come from ``benchmarks/inpaint_data.py``
and were never trained on:

- ``face`` model: ``face_eval``, one face crop per person of gt_db (whole-frame photos)
  and of att_faces (grey crops), 90 images at 96x96;
- ``general`` model: ``general_eval``, Set5 and eight scikit-image photos, at most 256 px.

Every bucket (10-20%, 20-30%, 30-40% of the pixels hidden) is reported with PSNR, SSIM and L1
inside the hole (``sightkit enhance evaluate-inpaint``'s protocol, seed 0), and the wall
time of the whole evaluation.

    python benchmarks/inpaint_data.py && python benchmarks/inpaint.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import write_result

DATA = Path(__file__).resolve().parents[1] / "runs" / "inpaint_data"
SETS = {"face": "face_eval", "general": "general_eval"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="face,general",
                        help="shipped model names (face is measured on face_eval, anything else on general_eval)")
    parser.add_argument("--name", default="inpaint")
    args = parser.parse_args()
    from sightkit.tasks.enhance.inpaint.api import Inpainter

    result = {"protocol": "sightkit enhance evaluate-inpaint, max side 256, seed 0", "models": {}}
    for name in args.models.split(","):
        folder = DATA / SETS.get(name, "general_eval")
        if not folder.is_dir():
            raise SystemExit(f"{folder} not found: run benchmarks/inpaint_data.py first")
        inpainter = Inpainter.load(name)
        start = time.perf_counter()
        report = inpainter.evaluate(folder, max_side=256, seed=0)
        seconds = time.perf_counter() - start
        meta = inpainter.meta
        result["models"][name] = {
            "bundle": str(inpainter.path), "kind": meta.get("kind"), "parameters": meta.get("parameters"),
            "bundle_mb": round(inpainter.path.stat().st_size / 1e6, 2) if inpainter.path.is_file() else None,
            "training_command": meta.get("training", {}).get("command"), "held_out": str(folder.relative_to(DATA)),
            "images": report["n"], "buckets": report["buckets"],
            "gain_over_telea_db_20-30%": round(report["gain_over_telea_db_20-30%"], 2),
            "goal_db": 1.0, "met": report["gain_over_telea_db_20-30%"] >= 1.0,
            "seconds_all_methods": round(seconds, 1),
        }
        print(name, {b: {m: round(v["psnr"], 2) for m, v in ms.items()} for b, ms in report["buckets"].items()},
              flush=True)
    write_result(args.name, result)


if __name__ == "__main__":
    main()
