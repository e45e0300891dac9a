"""Training through the engine, the bundle round trip, predict, evaluate with its report, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sightkit.errors import BundleError
from sightkit.tasks.detect.api import Detector
from sightkit.tasks.detect.predict import Box
from sightkit.tasks.detect.shapes import write_shapes


def test_training_saves_a_bundle_that_round_trips(trained: Path, shapes: Path, tmp_path: Path) -> None:
    detector = Detector.load(trained)
    assert detector.classes == ["circle", "square", "triangle"]
    assert detector.meta["architecture"] == {"name": "fcos_resnet18", "num_classes": 3, "image_size": 64}
    assert "best_val_map_50" in detector.meta["metrics"]
    copy = Detector.load(detector.save(tmp_path / "copy.sightkit"))
    image = shapes / "images" / "00000.png"
    assert detector.predict(image, score=0.0) == copy.predict(image, score=0.0)


def test_predict_returns_typed_boxes_in_image_pixels_best_first(trained: Path, shapes: Path) -> None:
    from PIL import Image

    detector = Detector.load(trained)
    big = Image.open(shapes / "images" / "00001.png").resize((256, 256))
    boxes = detector.predict(big, score=0.0, nms=0.5)
    assert boxes and all(isinstance(b, Box) for b in boxes)
    assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)
    assert max(b.x2 for b in boxes) > 64  # scaled back from the model's 64 px to the image's 256
    assert all(0 <= b.x1 <= b.x2 <= 256 and b.label in detector.classes for b in boxes)
    assert len(detector.predict(big, score=0.99)) <= len(boxes)


def test_evaluate_reports_coco_map_per_class_and_writes_the_report(trained: Path, shapes: Path,
                                                                   tmp_path: Path) -> None:
    report = Detector.load(trained).evaluate(shapes, tmp_path / "eval")
    assert 0 <= report["map"] <= report["map_50"] <= 1
    assert set(report["per_class"]) == {"circle", "square", "triangle"}
    html = Path(report["report_html"]).read_text()
    assert "precision-recall" in html.lower() or "Precision recall" in html
    assert (tmp_path / "eval" / "examples.png").is_file() and (tmp_path / "eval" / "report.json").is_file()


def test_wrong_bundle_task_is_a_bundle_error(tmp_path: Path) -> None:
    from sightkit.core.bundle import save_bundle

    save_bundle(tmp_path / "other", {"w": torch.zeros(1)}, {"task": "classify"})
    with pytest.raises(BundleError, match="not a 'detect' bundle"):
        Detector.load(tmp_path / "other")


def test_cli_predict_draws_boxes_and_prints_json_lines(cli, trained: Path, shapes: Path, tmp_path: Path) -> None:
    code, out, err = cli("detect", "predict", trained, shapes / "images", "--score", "0", "--out", tmp_path / "drawn",
                         "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 10 and set(records[0]) == {"image", "width", "height", "drawn", "boxes"}
    assert Path(records[0]["drawn"]).is_file() and set(records[0]["boxes"][0]) == {"label", "score", "x1", "y1",
                                                                                    "x2", "y2"}


def test_cli_evaluate_json(cli, trained: Path, shapes: Path, tmp_path: Path) -> None:
    code, out, err = cli("detect", "evaluate", trained, shapes, "--out", tmp_path / "rep", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {"map", "map_50", "per_class", "report_html"} <= set(report)


@pytest.mark.parametrize("case, expected", [
    ("empty", "no images and no annotations"),
    ("bare", "images but no annotations"),
    ("model", "--model 'nosuchnet': choose one of"),
    ("score", "--score 1.5: give a score threshold between 0 and 1"),
    ("noimages", "no image files in this folder"),
    ("mismatch", "no box of the model's classes (circle, square, triangle)"),
])
def test_cli_bad_input_is_one_error_line_exit_2(cli, trained: Path, shapes: Path, tmp_path: Path, case: str,
                                                expected: str) -> None:
    from PIL import Image

    (tmp_path / "empty").mkdir()
    (tmp_path / "bare").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "bare" / "a.png")
    (tmp_path / "cars").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "cars" / "a.png")
    (tmp_path / "cars" / "a.xml").write_text("<annotation><filename>a.png</filename><object><name>car</name>"
                                              "<bndbox><xmin>2</xmin><ymin>2</ymin><xmax>20</xmax><ymax>20</ymax>"
                                              "</bndbox></object></annotation>")
    args = {"empty": ("detect", "train", tmp_path / "empty", "--out", tmp_path / "r1"),
            "bare": ("detect", "train", tmp_path / "bare", "--out", tmp_path / "r2"),
            "model": ("detect", "train", shapes, "--model", "nosuchnet", "--out", tmp_path / "r3"),
            "score": ("detect", "predict", trained, shapes / "images", "--score", "1.5", "--out", tmp_path / "p"),
            "noimages": ("detect", "predict", trained, tmp_path / "empty"),
            "mismatch": ("detect", "evaluate", trained, tmp_path / "cars", "--out", tmp_path / "e")}[case]
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r3").exists()


@pytest.mark.slow
def test_a_short_training_run_learns_the_shapes(tmp_path: Path) -> None:
    data = write_shapes(tmp_path / "shapes", count=80, size=64, fmt="voc", seed=2, max_objects=2)
    result = Detector.train(data, out=tmp_path / "run", epochs=12, image_size=64, batch_size=8, val_fraction=0.25,
                            progress=False, status=lambda line: None)
    assert result.meta["metrics"]["best_val_map_50"] > 0.3


def _write_video(path: Path, frames: int = 6) -> Path:
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for index in range(frames):
        frame = np.full((48, 64, 3), 60, np.uint8)
        frame[10:30, 5 + index * 2:25 + index * 2] = (0, 0, 230)
        writer.write(frame)
    writer.release()
    return path


def test_cli_predict_on_a_video_writes_annotated_frames_with_track_ids(cli, trained: Path, tmp_path: Path) -> None:
    import cv2

    video = _write_video(tmp_path / "clip.avi")
    code, out, err = cli("detect", "predict", trained, video, "--score", "0", "--out", tmp_path / "v", "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["frame"] for r in records] == list(range(6))
    assert all("track" in box for r in records for box in r["boxes"])
    assert "frames/s" in err
    capture = cv2.VideoCapture(str(tmp_path / "v" / "clip.avi"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6


def test_an_unreadable_video_is_one_error_line(cli, trained: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    code, _, err = cli("detect", "predict", trained, tmp_path / "broken.mp4", "--out", tmp_path / "v")
    assert code == 2 and err.strip().startswith("error: VIDEO") and "cannot be opened" in err
    assert not (tmp_path / "v").exists()


def test_tracker_keeps_ids_for_moving_boxes_and_opens_new_ones() -> None:
    from sightkit.tasks.detect.tracker import IoUTracker

    tracker = IoUTracker(min_iou=0.3, max_age=1)
    assert tracker.update([Box("car", 0.9, 0, 0, 10, 10), Box("person", 0.8, 50, 50, 60, 70)]) == [1, 2]
    assert tracker.update([Box("person", 0.8, 52, 50, 62, 70), Box("car", 0.9, 2, 0, 12, 10)]) == [2, 1]
    assert tracker.update([Box("car", 0.9, 30, 30, 40, 40)]) == [3]  # no overlap: a new object
    tracker.update([])
    tracker.update([])
    assert tracker.update([Box("person", 0.8, 52, 50, 62, 70)]) == [4]  # track 2 expired after max_age


def test_train_option_defaults_match_the_config() -> None:
    import inspect

    from sightkit.cli.detect import _CONFIG_OPTIONS, train
    from sightkit.tasks.detect.config import DetectConfig

    parameters = inspect.signature(train).parameters
    for name in _CONFIG_OPTIONS:
        default = parameters[name].default.default
        expected = DetectConfig.model_fields[name].default
        assert (tuple(default) if isinstance(default, (list, tuple)) else default) == expected, name
