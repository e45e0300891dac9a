"""A ByteTrack-style tracker: each detection keeps the id of the track it continues across frames.

Association (after ByteTrack, Zhang et al., ECCV 2022), once per frame:

1. **High-score boxes** (score >= ``high_score``) are matched to every open track, by IoU
   with the track's predicted box, one-to-one (Hungarian assignment), same class only,
   pairs under ``min_iou`` refused.
2. **Low-score boxes** (below ``high_score``) are matched the same way to the tracks left
   over that were seen in the previous frame, at the stricter ``low_min_iou``: an object that
   is partly hidden and detected weakly keeps its id instead of being dropped. A low-score
   box that continues no track is not reported (it is usually background).
3. A track unmatched for more than ``max_age`` frames is closed; **new tracks start only from
   high-score boxes**.

Each track predicts where its box is next by constant velocity (the mean corner displacement
per frame, smoothed): a light stand-in for ByteTrack's Kalman filter that keeps the ids of
objects crossing each other and bridges short gaps.

Example:
    >>> from sightkit.tasks.detect.predict import Box
    >>> tracker = ByteTracker(high_score=0.5)
    >>> tracker.update([Box("car", 0.9, 0, 0, 10, 10)]), tracker.update([Box("car", 0.2, 1, 0, 11, 10)])
    ([1], [1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sightkit.tasks.detect.predict import Box

_VELOCITY_SMOOTHING = 0.5  # weight of the newest displacement in the velocity estimate
_REFUSED = 1e6  # assignment cost of a pair that may not match


@dataclass
class _Track:
    id: int
    box: Box
    velocity: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    missed: int = 0

    def predicted(self) -> Box:
        """The box moved on by its velocity for every frame since it was last seen."""
        steps = self.missed + 1
        vx1, vy1, vx2, vy2 = (v * steps for v in self.velocity)
        b = self.box
        return replace(b, x1=b.x1 + vx1, y1=b.y1 + vy1, x2=b.x2 + vx2, y2=b.y2 + vy2)

    def continue_with(self, box: Box) -> None:
        steps = self.missed + 1
        moved = ((box.x1 - self.box.x1) / steps, (box.y1 - self.box.y1) / steps,
                 (box.x2 - self.box.x2) / steps, (box.y2 - self.box.y2) / steps)
        w = _VELOCITY_SMOOTHING
        self.velocity = tuple(w * m + (1 - w) * v for m, v in zip(moved, self.velocity))  # type: ignore[assignment]
        self.box, self.missed = box, 0


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


class ByteTracker:
    """Gives each detection a track id that persists across frames (see the module's docstring).

    ``high_score`` 0 treats every box as high-score (plain IoU tracking with motion).
    """

    def __init__(self, min_iou: float = 0.3, max_age: int = 5, high_score: float = 0.0,
                 low_min_iou: float = 0.5) -> None:
        self.min_iou, self.max_age = min_iou, max_age
        self.high_score, self.low_min_iou = high_score, low_min_iou
        self._tracks: list[_Track] = []
        self._next = 1

    def update(self, boxes: Sequence[Box]) -> list[int | None]:
        """The track id of each box of the next frame, in the order given; ``None`` for a low-score box
        that continues no track (not to be reported)."""
        ids: list[int | None] = [None] * len(boxes)
        high = [i for i, box in enumerate(boxes) if box.score >= self.high_score]
        low = [i for i, box in enumerate(boxes) if box.score < self.high_score]
        free = list(range(len(self._tracks)))
        for stage_boxes, stage_tracks, threshold in ((high, free, self.min_iou), (low, None, self.low_min_iou)):
            if stage_tracks is None:  # stage 2: the tracks still free that were seen last frame
                stage_tracks = [t for t in free if self._tracks[t].missed == 0]
            for t, b in self._associate(stage_tracks, [boxes[i] for i in stage_boxes], threshold):
                track = self._tracks[t]
                track.continue_with(boxes[stage_boxes[b]])
                ids[stage_boxes[b]] = track.id
                free.remove(t)
        for t in free:
            self._tracks[t].missed += 1
        self._tracks = [track for track in self._tracks if track.missed <= self.max_age]
        for i in high:
            if ids[i] is None:
                ids[i] = self._next
                self._tracks.append(_Track(self._next, boxes[i]))
                self._next += 1
        return ids

    def _associate(self, tracks: list[int], boxes: list[Box], threshold: float) -> list[tuple[int, int]]:
        """One-to-one ``(track index, box index)`` pairs maximising IoU, each pair at least ``threshold``."""
        if not tracks or not boxes:
            return []
        from scipy.optimize import linear_sum_assignment

        cost = np.full((len(tracks), len(boxes)), _REFUSED)
        for row, t in enumerate(tracks):
            predicted = self._tracks[t].predicted()
            for col, box in enumerate(boxes):
                overlap = iou(predicted, box) if predicted.label == box.label else 0.0
                if overlap >= threshold:
                    cost[row, col] = 1.0 - overlap
        rows, cols = linear_sum_assignment(cost)
        return [(tracks[r], int(c)) for r, c in zip(rows, cols) if cost[r, c] < _REFUSED]


IoUTracker = ByteTracker
"""The earlier name of :class:`ByteTracker` (with its defaults it tracks every box as high-score)."""
