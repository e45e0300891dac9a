"""Streams: a camera index (none here: the error), a folder of frames read as a stream with --track, frame limits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sightkit.errors import DataError
from sightkit.tasks.detect.video import camera_index, detect_video


def _frames(folder: Path, count: int = 5) -> Path:
    folder.mkdir()
    for index in range(count):
        pixels = np.full((48, 64, 3), 60, np.uint8)
        pixels[10:30, 5 + index * 3:25 + index * 3] = (230, 0, 0)
        Image.fromarray(pixels).save(folder / f"frame{index:03d}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


@pytest.mark.parametrize("args", [("0",), ("--camera", "0")])
def test_no_camera_is_one_error_line_and_leaves_nothing(cli, trained: Path, tmp_path: Path, args: tuple) -> None:
    code, out, err = cli("detect", "predict", trained, *args, "--out", tmp_path / "cam")
    assert code == 2 and out == ""
    assert err.strip() == ("error: --camera 0: no camera could be opened at index 0 (none connected, in use by "
                           "another program, or no permission to read /dev/video0)")
    assert not (tmp_path / "cam").exists()


def test_a_source_and_camera_together_are_refused(cli, trained: Path, shapes: Path) -> None:
    code, _, err = cli("detect", "predict", trained, shapes, "--camera", "1")
    assert code == 2 and err.startswith("error: give IMAGES|VIDEO|FRAMES|CAMERA or --camera INDEX")


def test_camera_index_is_a_number_that_is_not_a_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert camera_index("2") == 2 and camera_index("video.mp4") is None
    (tmp_path / "3").mkdir()
    assert camera_index("3") is None  # a folder called 3 stays a folder


def test_a_folder_with_track_is_a_stream_with_ids_and_an_annotated_video(cli, trained: Path,
                                                                         tmp_path: Path) -> None:
    import cv2

    frames = _frames(tmp_path / "frames")
    code, out, err = cli("detect", "predict", trained, frames, "--track", "--score", "0.05", "--json",
                         "--out", tmp_path / "o")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["frame"] for r in records] == list(range(5))
    assert [Path(r["image"]).name for r in records] == [f"frame{i:03d}.png" for i in range(5)]
    assert all("track" in box for r in records for box in r["boxes"])
    assert "skipped 1 unreadable frames" in err
    capture = cv2.VideoCapture(str(tmp_path / "o" / "frames.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5


def test_a_folder_without_track_stays_a_set_of_images(cli, trained: Path, tmp_path: Path) -> None:
    frames = _frames(tmp_path / "frames")
    code, out, err = cli("detect", "predict", trained, frames, "--json", "--out", tmp_path / "o")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 5 and all("drawn" in r and "frame" not in r for r in records)


def test_max_frames_stops_a_stream_and_an_empty_folder_is_refused(trained: Path, tmp_path: Path) -> None:
    from sightkit.tasks.detect.api import Detector

    predictor = Detector.load(trained).predictor
    summary: dict = {}
    records = list(detect_video(predictor, _frames(tmp_path / "f"), max_frames=2, summary=summary))
    assert len(records) == 2 and summary["frames"] == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="FRAMES .*empty: no image files"):
        list(detect_video(predictor, tmp_path / "empty"))


def test_a_camera_stream_is_read_until_max_frames_and_recorded(trained: Path, tmp_path: Path, monkeypatch) -> None:
    import cv2

    from sightkit.tasks.detect.api import Detector

    clip = tmp_path / "camera-feed.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for index in range(8):
        frame = np.full((48, 64, 3), 60, np.uint8)
        frame[10:30, 5 + index * 2:25 + index * 2] = (0, 0, 230)
        writer.write(frame)
    writer.release()
    real = cv2.VideoCapture
    opened: list = []
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: opened.append(source) or real(
        str(clip) if isinstance(source, int) else source))  # camera 0 plays the clip
    summary: dict = {}
    records = list(detect_video(Detector.load(trained).predictor, 0, tmp_path / "out" / "camera0.mp4",
                                score=0.05, max_frames=5, summary=summary))
    assert opened == [0] and len(records) == 5 and summary["frames"] == 5
    assert all("image" not in r and all("track" in b for b in r["boxes"]) for r in records)
    assert int(real(str(tmp_path / "out" / "camera0.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 5
