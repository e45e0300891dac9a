"""Generalisation check: the same default recipe on real images that are not in ../shared.

scikit-image's ``lfw_subset`` holds 100 real face and 100 non-face 25x25 grey crops (from
LFW). The built-in CNN is trained with sightkit's defaults (no tuning for this set) on a
stratified 60/20/20 split (seed 0) and scored on the test part.

    pip install -e '.[bench]' && python benchmarks/classify_generalise.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import write_result


def export_lfw_subset(out: Path) -> Path:
    """Write the 200 crops as ``out/{face,non_face}/NNN.png``."""
    from skimage.data import lfw_subset

    images = lfw_subset()
    for i, image in enumerate(images):
        label = "face" if i < 100 else "non_face"
        path = out / label / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image * 255).astype(np.uint8), mode="L").save(path)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="skcnn_small")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()

    from sightkit import Classifier

    with tempfile.TemporaryDirectory() as tmp:
        data = export_lfw_subset(Path(tmp) / "lfw_subset")
        start = time.perf_counter()
        clf = Classifier.train(data, args.model, out=Path(tmp) / "run", epochs=args.epochs, test_fraction=0.2,
                               val_fraction=0.2, progress=False, status=lambda m: None)
        report = clf.report or {}
    write_result("classify_generalise", {
        "data": "skimage.data.lfw_subset (100 faces, 100 non-faces, 25x25 grey)", "model": args.model,
        "epochs": args.epochs, "wall_s": round(time.perf_counter() - start, 1),
        "test_accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "ece": report["ece"],
        "ece_uncalibrated": report["ece_uncalibrated"], "n_test": report["n"],
    })


if __name__ == "__main__":
    main()
