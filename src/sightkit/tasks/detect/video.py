"""Detect objects in a stream: a video file, a camera or a folder of frames; boxes (and track ids) per frame.

Sources: a video file (read with OpenCV), a camera index (``0`` = the first camera; read until
``max_frames`` or Ctrl-C, which ends the run cleanly) or a folder of frames (image files in
name order, as a video cut into frames; unreadable ones are skipped and counted). The
annotated video is written to a temporary file next to ``out`` and renamed when complete
(``mp4v`` codec for ``.mp4``, ``MJPG`` for ``.avi``), so a failed run leaves no half-written
video; frames of another size than the first are scaled to it. ``frames_per_second`` counts
the detector alone; ``overall_frames_per_second`` includes reading, drawing and encoding.

With ``track``, boxes down to :data:`LOW_SCORE` are detected and given to the ByteTrack-style
tracker with the score threshold as its high score: weak boxes only continue existing tracks
(an object partly hidden keeps its id) and only those are reported.

Example:
    >>> for record in detect_video(predictor, "drive.mp4", "runs/drive-boxes.mp4"):  # doctest: +SKIP
    ...     print(record["frame"], len(record["boxes"]))
    >>> records = list(detect_video(predictor, 0, "runs/camera.mp4", max_frames=100))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sightkit.errors import ConfigError, DataError, ImageError
from sightkit.tasks.detect.draw import draw_boxes
from sightkit.tasks.detect.predict import DetectPredictor
from sightkit.tasks.detect.tracker import ByteTracker

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
LOW_SCORE = 0.1  # ByteTrack's low threshold: boxes between it and the score threshold only continue tracks
FOLDER_FPS = 25.0  # the frame rate given to a folder of frames (for time_s and the written video)

Source = str | Path | int
"""A video file, a folder of frames, or a camera index."""


def is_video_file(path: str | Path) -> bool:
    """Whether ``path`` has a video suffix (the file is not opened).

    Example:
        >>> is_video_file("drive.MP4")
        True
    """
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def camera_index(source: str | Path) -> int | None:
    """The camera index that ``source`` names (a whole number that is not an existing path), else ``None``.

    Example:
        >>> camera_index("0"), camera_index("frames/")
        (0, None)
    """
    text = str(source)
    return int(text) if text.isdigit() and not Path(text).exists() else None


def detect_video(predictor: DetectPredictor, source: Source, out: str | Path | None = None, *,
                 score: float | None = None, nms: float | None = None, track: bool = True,
                 max_frames: int | None = None, summary: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Yield one record per frame (``frame``, ``time_s``, ``boxes`` with ``track`` ids; ``image`` for a folder).

    When the generator is exhausted, ``summary`` (if given) is filled with ``frames``, ``fps`` of
    the source, ``frames_per_second`` (detector only), ``overall_frames_per_second``, ``output``
    and ``skipped`` (unreadable frames of a folder).
    """
    import cv2

    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"--max-frames {max_frames}: give at least 1")
    score, nms = predictor.thresholds(score, nms)
    temporary = _temporary_for(out)
    frames_in, fps, release = _open(source)
    tracker = ByteTracker(high_score=score) if track else None
    detect_score = min(LOW_SCORE, score) if track else score
    writer, size, frames, detect_seconds, started, skipped = None, (0, 0), 0, 0.0, time.perf_counter(), [0]
    try:
        try:
            for picture, name in frames_in(skipped):
                began = time.perf_counter()
                boxes = predictor.predict(picture, detect_score, nms)
                detect_seconds += time.perf_counter() - began
                ids: list[int | None] | None = None
                if tracker is not None:
                    tracked = [(box, i) for box, i in zip(boxes, tracker.update(boxes)) if i is not None]
                    boxes, ids = [box for box, _ in tracked], [i for _, i in tracked]
                if temporary is not None:
                    if writer is None:
                        size = picture.size
                        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*_CODECS[temporary.suffix]),
                                                 fps, size)
                    drawn = draw_boxes(picture, boxes, predictor.classes, track_ids=ids)
                    drawn = drawn if drawn.size == size else drawn.resize(size)
                    writer.write(cv2.cvtColor(np.asarray(drawn), cv2.COLOR_RGB2BGR))
                records = [b.to_dict() for b in boxes]
                for record, track_id in zip(records, ids or []):
                    record["track"] = track_id
                yield {"frame": frames, "time_s": round(frames / fps, 3), **({"image": name} if name else {}),
                       "boxes": records}
                frames += 1
                if max_frames is not None and frames >= max_frames:
                    break
        except KeyboardInterrupt:
            if not isinstance(source, int):
                raise  # Ctrl-C ends a camera run cleanly, keeping what was recorded
        if frames == 0:
            raise DataError(f"{_describe(source)}: no frame could be read")
        if writer is not None:
            writer.release()
            writer = None
            os.replace(temporary, out)
    finally:
        release()
        if writer is not None:
            writer.release()
        if temporary is not None and temporary.exists():
            temporary.unlink()
    if summary is not None:
        total = time.perf_counter() - started
        summary.update(frames=frames, fps=round(fps, 2), output=str(out) if out is not None else None,
                       skipped=skipped[0],
                       frames_per_second=round(frames / detect_seconds, 2) if detect_seconds else None,
                       overall_frames_per_second=round(frames / total, 2) if total else None)


def _temporary_for(out: str | Path | None) -> Path | None:
    if out is None:
        return None
    out = Path(out)
    if out.suffix.lower() not in _CODECS:
        raise ConfigError(f"--out {out}: give a video file name ending in {', '.join(sorted(_CODECS))}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.stem}.tmp{out.suffix.lower()}")


def _describe(source: Source) -> str:
    if isinstance(source, int):
        return f"--camera {source}"
    return f"FRAMES {source}" if Path(source).is_dir() else f"VIDEO {source}"


def _open(source: Source) -> tuple[Any, float, Any]:
    """``(frames(skipped) -> iterator of (PIL image, file name or None), fps, release)`` for any source."""
    if not isinstance(source, int) and Path(source).is_dir():
        return _folder(Path(source)), FOLDER_FPS, lambda: None
    import cv2

    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its warnings would add to the error line
    try:
        capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not capture.isOpened() or (not isinstance(source, int) and not Path(source).is_file()):
        capture.release()
        if isinstance(source, int):
            raise DataError(f"--camera {source}: no camera could be opened at index {source} (none connected, "
                            f"in use by another program, or no permission to read /dev/video{source})")
        raise DataError(f"VIDEO {source}: cannot be opened as a video (missing file or unsupported codec)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0

    def frames(skipped: list[int]) -> Iterator[tuple[Image.Image, None]]:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)), None

    return frames, fps, capture.release


def _folder(folder: Path) -> Any:
    from sightkit.core.images import is_image_file, load_image

    paths = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))
    if not paths:
        raise DataError(f"FRAMES {folder}: no image files in this folder")

    def frames(skipped: list[int]) -> Iterator[tuple[Image.Image, str]]:
        for path in paths:
            try:
                yield load_image(path, "RGB"), str(path)
            except ImageError:
                skipped[0] += 1

    return frames
