"""Street scenes from scratch: per-class AP on real 1080p driving images, and detector latency per 1080p frame.

``../shared/data/street_voc`` holds 70 Baidu Apollo frames (1920x1080) with Pascal VOC boxes
(2 have no XML and are listed, not used). A seeded 80/20 split of the 68 annotated images
gives the training and test images; the default detector is trained from random weights
for ``--cpu-minutes`` (CPU time of the process) at ``--image-size`` (the longer side; 640 makes 640x360), then scored on
the test images with COCO mAP and per-class AP@.5. ``ignore`` boxes are ignore regions.

Latency: every registered detector, built for the data's classes, runs on a 1920x1080 frame
at its default size (SSDlite at its fixed 320x320); the median of ``--repeats`` runs after a
warm-up, also as a ratio to the default detector measured in the same process (the machine
is shared). The trained model also runs on a short generated 1080p video through
``sightkit detect predict``'s video path, which reports frames/s.

    python benchmarks/detect_street.py                 # 20 CPU minutes of training, 640 px
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, write_result


def _split(source: Path, root: Path, seed: int, test_fraction: float) -> tuple[Path, Path, int]:
    """Symlinked ``train`` / ``test`` VOC folders of the annotated images."""
    xmls = sorted((source / "Annotations").glob("*.xml"))
    order = list(range(len(xmls)))
    random.Random(seed).shuffle(order)
    n_test = round(len(xmls) * test_fraction)
    for part, chosen in (("test", order[:n_test]), ("train", order[n_test:])):
        (root / part / "Annotations").mkdir(parents=True)
        (root / part / "JPEGImages").mkdir()
        for index in chosen:
            xml = xmls[index]
            (root / part / "Annotations" / xml.name).symlink_to(xml)
            image = next((source / "JPEGImages").glob(xml.stem + ".*"))
            (root / part / "JPEGImages" / image.name).symlink_to(image)
    return root / "train", root / "test", n_test


def _latency(classes: int, image_size: int, repeats: int) -> dict[str, dict[str, float]]:
    import numpy as np
    import torch
    from PIL import Image

    from sightkit.tasks.detect.model import DETECTORS, build_detector
    from sightkit.tasks.detect.predict import DetectPredictor

    frame = Image.fromarray(np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8))
    results = {}
    for name in DETECTORS:
        torch.manual_seed(0)
        model = build_detector(name, classes, image_size)
        meta = {"classes": [f"c{i}" for i in range(classes)],
                "architecture": {"name": name, "num_classes": classes, "image_size": image_size}}
        predictor = DetectPredictor(model, meta)
        predictor.predict(frame, score=0.3)
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            predictor.predict(frame, score=0.3)
            times.append(time.perf_counter() - began)
        results[name] = {"ms_per_1080p_frame": round(statistics.median(times) * 1000, 1),
                         "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
                         "input": "320x320" if name.startswith("ssdlite") else
                                  f"{image_size}x{round(image_size * 1080 / 1920)}"}
        print(name, results[name], flush=True)
    base = results["fcos_resnet18"]["ms_per_1080p_frame"]
    for row in results.values():
        row["ratio_to_fcos_resnet18"] = round(row["ms_per_1080p_frame"] / base, 2)
    return results


def _video_fps(bundle: Path, folder: Path, frames: int) -> dict:
    import cv2
    import numpy as np

    from sightkit.tasks.detect.api import Detector
    from sightkit.tasks.detect.video import detect_video

    path = folder / "drive.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (1920, 1080))
    background = np.random.default_rng(1).integers(40, 200, (1080, 1920, 3), dtype=np.uint8)
    for index in range(frames):
        frame = background.copy()
        frame[500:700, 200 + index * 20:500 + index * 20] = (40, 40, 200)
        writer.write(frame)
    writer.release()
    summary: dict = {}
    for _ in detect_video(Detector.load(bundle).predictor, path, folder / "drive-boxes.mp4", summary=summary):
        pass
    return {k: summary[k] for k in ("frames", "frames_per_second", "overall_frames_per_second")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "street_voc")
    parser.add_argument("--model", default="fcos_resnet18")
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--cpu-minutes", type=float, default=20.0,
                        help="training limit in CPU time of this process (the machine is shared)")
    parser.add_argument("--epochs", type=int, default=300, help="upper bound; the time limit ends the run first")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--video-frames", type=int, default=20)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs") / "bench-detect-street")
    parser.add_argument("--name", default="detect_street")
    args = parser.parse_args()
    from sightkit import Detector  # through sightkit's lazy export: threads set up before torch loads

    with tempfile.TemporaryDirectory(prefix="detect-street-") as tmp:
        train_data, test_data, n_test = _split(args.data, Path(tmp), seed=0, test_fraction=0.2)
        start = time.perf_counter()
        result = Detector.train(train_data, out=args.out, model=args.model, image_size=args.image_size,
                                batch_size=args.batch_size, epochs=args.epochs, max_cpu_minutes=args.cpu_minutes,
                                val_fraction=0.15, progress=False, status=lambda line: print(line, flush=True),
                                command=f"Detector.train(street_voc train split, model={args.model!r}, "
                                        f"image_size={args.image_size}, max_cpu_minutes={args.cpu_minutes})")
        minutes = (time.perf_counter() - start) / 60
        detector = Detector.load(result.bundle)
        report = detector.evaluate(test_data, args.out / "eval")
        video = _video_fps(result.bundle, Path(tmp), args.video_frames)
    latency = {} if args.skip_latency else _latency(len(detector.classes), args.image_size, args.repeats)
    training = result.meta["training"]
    write_result(args.name, {
        "data": {"source": "Baidu Apollo street scenes, Pascal VOC (../shared/data/street_voc)",
                 "train_images": training["train_images"] + training["val_images"], "test_images": n_test,
                 "split": "seeded 80/20 of the annotated images (seed 0)", "classes": detector.classes,
                 "train_boxes": training["boxes"], "test_boxes": report["boxes_per_class"]},
        "model": args.model, "image_size": args.image_size, "weights": "random (from scratch, no pretraining)",
        "training": {"cpu_minutes_limit": args.cpu_minutes, "cpu_minutes": training["cpu_minutes"],
                     "wall_minutes": round(minutes, 2), "epochs_run": training["epochs_run"],
                     "steps_run": training["steps_run"], "stop_reason": training["stop_reason"],
                     "best_val_map_50": training.get("best_val_map_50")},
        "test": {k: report[k] for k in ("map", "map_50", "map_75", "mar_100", "per_class", "seconds_per_image")},
        "video_1080p_trained_model": video,
        "latency_1080p_untrained_weights": latency,
        "report_html": report["report_html"],
        "note": "2 CPU cores shared with other jobs; from-scratch figures on 54 training images are a floor, "
                "not what the architecture reaches with COCO-pretrained weights",
    })


if __name__ == "__main__":
    main()
