"""Detect objects in a video file: boxes (and track ids) per frame, an annotated video out, frames/s.

Frames are read and written with OpenCV. The annotated video is written to a temporary file
next to ``out`` and renamed when complete (``mp4v`` codec for ``.mp4``, ``MJPG`` for ``.avi``),
so a failed run leaves no half-written video. ``frames_per_second`` counts the detector alone;
``overall_frames_per_second`` includes decoding, drawing and encoding.

Example:
    >>> for record in detect_video(predictor, "drive.mp4", "runs/drive-boxes.mp4"):  # doctest: +SKIP
    ...     print(record["frame"], len(record["boxes"]))
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sightkit.errors import ConfigError, DataError
from sightkit.tasks.detect.draw import draw_boxes
from sightkit.tasks.detect.predict import DetectPredictor
from sightkit.tasks.detect.tracker import IoUTracker

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def is_video_file(path: str | Path) -> bool:
    """Whether ``path`` has a video suffix (the file is not opened).

    Example:
        >>> is_video_file("drive.MP4")
        True
    """
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def detect_video(predictor: DetectPredictor, source: str | Path, out: str | Path | None = None, *,
                 score: float | None = None, nms: float | None = None, track: bool = True,
                 summary: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Yield one record per frame (``frame``, ``time_s``, ``boxes`` with ``track`` ids); write ``out`` if given.

    When the generator is exhausted, ``summary`` (if given) is filled with ``frames``, ``fps`` of
    the source, ``frames_per_second`` (detector only), ``overall_frames_per_second`` and ``output``.
    """
    import cv2

    capture = cv2.VideoCapture(str(source))
    if not Path(source).is_file() or not capture.isOpened():
        raise DataError(f"VIDEO {source}: cannot be opened as a video (missing file or unsupported codec)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer, temporary = None, None
    if out is not None:
        out = Path(out)
        if out.suffix.lower() not in _CODECS:
            raise ConfigError(f"--out {out}: give a video file name ending in {', '.join(sorted(_CODECS))}")
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_name(f".{out.stem}.tmp{out.suffix}")
    tracker = IoUTracker() if track else None
    frames, detect_seconds, started = 0, 0.0, time.perf_counter()
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            picture = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            began = time.perf_counter()
            boxes = predictor.predict(picture, score, nms)
            detect_seconds += time.perf_counter() - began
            ids = tracker.update(boxes) if tracker is not None else None
            if temporary is not None:
                if writer is None:
                    writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*_CODECS[out.suffix.lower()]),
                                             fps, picture.size)
                drawn = draw_boxes(picture, boxes, predictor.classes, track_ids=ids)
                writer.write(cv2.cvtColor(np.asarray(drawn), cv2.COLOR_RGB2BGR))
            records = [b.to_dict() for b in boxes]
            for record, track_id in zip(records, ids or []):
                record["track"] = track_id
            yield {"frame": frames, "time_s": round(frames / fps, 3), "boxes": records}
            frames += 1
        if frames == 0:
            raise DataError(f"VIDEO {source}: no frame could be decoded")
        if writer is not None:
            writer.release()
            writer = None
            os.replace(temporary, out)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        if temporary is not None and temporary.exists():
            temporary.unlink()
    if summary is not None:
        total = time.perf_counter() - started
        summary.update(frames=frames, fps=round(fps, 2), output=str(out) if out is not None else None,
                       frames_per_second=round(frames / detect_seconds, 2) if detect_seconds else None,
                       overall_frames_per_second=round(frames / total, 2) if total else None)
