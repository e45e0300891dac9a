"""Jittered views of tiny faces: the resampling, the probe's views and matching by their mean distance."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sightkit.tasks.face.index import PersonIndex
from sightkit.tasks.face.detect import Box
from sightkit.tasks.face.jitter import JITTERS, jittered, nearest, surroundings
from sightkit.tasks.face.pipeline import TINY_EYE_PX, FaceOptions, describe


def test_jittered_resizes_and_shifts_by_a_fraction_of_a_pixel():
    ramp = np.tile(np.arange(0, 200, 10, dtype=np.uint8)[None, :, None], (20, 1, 3))
    assert jittered(ramp, 0.0, 0.0, 1.14).shape == (23, 23, 3)
    shifted = jittered(ramp, 0.4, 0.0, 1.0).astype(float)
    # moving the content right by 0.4 px lowers each interior pixel of a rising ramp by ~0.4 steps
    assert np.allclose(ramp[5, 5:15, 0] - shifted[5, 5:15, 0], 4.0, atol=1.0)
    assert JITTERS[0] == (0.0, 0.0, 1.0)


def test_surroundings_keep_three_boxes_inside_the_image():
    image = np.zeros((400, 300, 3), np.uint8)
    region, offset = surroundings(image, 100, 150, 120, 170)  # a 20 px box: 60 px each way
    assert region.shape == (140, 140, 3) and offset.tolist() == [40, 90]
    region, offset = surroundings(image, 0, 0, 300, 400)
    assert region.shape == (400, 300, 3) and offset.tolist() == [0, 0]


def test_nearest_face_within_half_a_width():
    class Found:
        def __init__(self, left: int) -> None:
            self.box = Box(left, 0, left + 20, 20, 1.0, "hog")

    faces = [Found(0), Found(100)]
    assert nearest(faces, np.array([105.0, 10.0]), 20).box.left == 100
    assert nearest(faces, np.array([60.0, 10.0]), 20) is None
    assert nearest([], np.array([0.0, 0.0]), 20) is None


def test_tiny_face_is_described_from_jittered_copies(face_crop):
    tiny = np.asarray(Image.fromarray(face_crop).resize((14, 16), Image.Resampling.BICUBIC))
    face = describe([tiny], FaceOptions(crops=True))[0][0]
    assert face.size_px < TINY_EYE_PX
    assert len(face.views) == len(JITTERS) - 1
    vectors = face.embeddings()
    assert vectors.shape == (len(JITTERS), 128) and np.isfinite(vectors).all()
    assert 0 < np.linalg.norm(vectors[1:] - vectors[0], axis=1).max() < 0.6  # the same face, a little different
    assert describe([tiny], FaceOptions(crops=True, probe_jitter=False))[0][0].views == []


def test_large_face_has_no_jittered_views(face_crop):
    face = describe([face_crop], FaceOptions(crops=True))[0][0]
    assert face.views == [] and face.embeddings().shape == (1, 128)


def test_search_views_ranks_by_mean_distance():
    index = PersonIndex(np.array([[0, 0], [3, 0], [10, 0]], np.float32), ["a", "b", "c"])
    # nearest to "a" once, to "b" twice: the mean distance decides
    queries = np.array([[0.5, 0], [2.5, 0], [2.5, 0]], np.float32)
    ranked = index.search_views(queries, top_k=2)
    assert [name for name, _ in ranked] == ["b", "a"]
    assert abs(ranked[0][1] - (2.5 + 0.5 + 0.5) / 3) < 1e-5
    assert index.search_views(queries[:1], top_k=1) == index.search(queries[0], top_k=1)
