"""The ByteTrack-style tracker on synthetic box sequences: occlusion, crossing, gaps, low-score boxes."""

from __future__ import annotations

from sightkit.tasks.detect.predict import Box
from sightkit.tasks.detect.tracker import ByteTracker, IoUTracker


def _box(x: float, score: float = 0.9, label: str = "person", y: float = 0.0) -> Box:
    return Box(label, score, x, y, x + 10, y + 20)


def test_an_occluded_object_that_drops_to_a_low_score_keeps_its_id() -> None:
    tracker = ByteTracker(high_score=0.5, max_age=2)
    scores = [0.9, 0.9, 0.2, 0.15, 0.2, 0.9]  # partly hidden for three frames
    ids = [tracker.update([_box(2.0 * frame, score)]) for frame, score in enumerate(scores)]
    assert ids == [[1]] * 6


def test_a_low_score_box_alone_starts_no_track_and_is_not_reported() -> None:
    tracker = ByteTracker(high_score=0.5)
    assert tracker.update([_box(0, 0.2), _box(100, 0.8)]) == [None, 1]
    assert tracker.update([_box(0, 0.2), _box(101, 0.8)]) == [None, 1]
    assert tracker.update([_box(0, 0.9)]) == [2]  # a high-score box there now starts a track


def test_a_low_score_box_does_not_revive_a_track_lost_in_an_earlier_frame() -> None:
    tracker = ByteTracker(high_score=0.5, max_age=5)
    tracker.update([_box(0)])
    tracker.update([])  # missed: the track is lost, not tracked
    assert tracker.update([_box(0, 0.2)]) == [None]
    assert tracker.update([_box(0, 0.9)]) == [1]  # a high-score box still continues it


def test_crossing_objects_keep_their_ids() -> None:
    tracker = ByteTracker()
    seen = []
    for frame in range(14):  # two people walking towards each other, crossing at frame ~6-7
        a, b = _box(3.0 * frame), _box(40.0 - 3.0 * frame)
        seen.append(tracker.update([b, a]))
    assert seen == [[1, 2]] * 14, seen


def test_a_gap_shorter_than_max_age_is_bridged_along_the_motion_and_a_longer_one_is_not() -> None:
    tracker = ByteTracker(max_age=3)
    for frame in range(4):
        assert tracker.update([_box(5.0 * frame)]) == [1]
    for _ in range(3):
        assert tracker.update([]) == []
    assert tracker.update([_box(35.0)]) == [1]  # where constant velocity says it is after the gap
    for _ in range(4):
        tracker.update([])
    assert tracker.update([_box(60.0)]) == [2]


def test_classes_never_share_a_track_and_the_old_name_still_works() -> None:
    tracker = IoUTracker(min_iou=0.3, max_age=1)
    assert tracker.update([_box(0, label="car"), _box(50)]) == [1, 2]
    assert tracker.update([_box(0, label="person"), _box(50, label="car")]) == [3, 4]
