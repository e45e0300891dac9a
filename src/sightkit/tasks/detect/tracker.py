"""A simple IoU tracker: each detection keeps the id of the previous frame's box it overlaps most.

Association is greedy by IoU (highest pairs first), only between boxes of the same class and
above ``min_iou``; a track unseen for more than ``max_age`` frames is closed; a detection that
matches no open track starts a new one. No motion model: it suits video where objects move
less than their size between frames (ByteTrack-style association with a Kalman filter would
hold ids through faster motion and occlusion).

Example:
    >>> from sightkit.tasks.detect.predict import Box
    >>> tracker = IoUTracker()
    >>> tracker.update([Box("car", 0.9, 0, 0, 10, 10)]), tracker.update([Box("car", 0.8, 1, 0, 11, 10)])
    ([1], [1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sightkit.tasks.detect.predict import Box


@dataclass
class _Track:
    id: int
    box: Box
    missed: int = 0


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes.

    Example:
        >>> iou(Box("a", 1, 0, 0, 10, 10), Box("a", 1, 5, 0, 15, 10))
        0.3333333333333333
    """
    width = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    height = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = width * height
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0


class IoUTracker:
    """Gives each detection a track id that persists across frames (see the module's docstring)."""

    def __init__(self, min_iou: float = 0.3, max_age: int = 5) -> None:
        self.min_iou, self.max_age = min_iou, max_age
        self._tracks: list[_Track] = []
        self._next = 1

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """The track id of each box of the next frame, in the order given."""
        pairs = sorted(((iou(track.box, box), t, b) for t, track in enumerate(self._tracks)
                        for b, box in enumerate(boxes) if track.box.label == box.label), reverse=True)
        ids: list[int | None] = [None] * len(boxes)
        taken: set[int] = set()
        for overlap, t, b in pairs:
            if overlap < self.min_iou:
                break
            if t in taken or ids[b] is not None:
                continue
            taken.add(t)
            ids[b] = self._tracks[t].id
            self._tracks[t].box, self._tracks[t].missed = boxes[b], 0
        for t, track in enumerate(self._tracks):
            if t not in taken:
                track.missed += 1
        self._tracks = [track for track in self._tracks if track.missed <= self.max_age]
        for b, box in enumerate(boxes):
            if ids[b] is None:
                ids[b] = self._next
                self._tracks.append(_Track(self._next, box))
                self._next += 1
        return [int(i) for i in ids if i is not None]
