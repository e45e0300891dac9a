"""Jittered views of tiny faces: the resampling, the probe's views and matching by their mean distance."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sightkit.tasks.face.index import PersonIndex
from sightkit.tasks.face.jitter import JITTERS, context_crop, jittered
from sightkit.tasks.face.pipeline import TINY_EYE_PX, FaceOptions, describe


def test_jittered_resizes_and_shifts_by_a_fraction_of_a_pixel():
    ramp = np.tile(np.arange(0, 200, 10, dtype=np.uint8)[None, :, None], (20, 1, 3))
    assert jittered(ramp, 0.0, 0.0, 1.14).shape == (23, 23, 3)
    shifted = jittered(ramp, 0.4, 0.0, 1.0).astype(float)
    # moving the content right by 0.4 px lowers each interior pixel of a rising ramp by ~0.4 steps
    assert np.allclose(ramp[5, 5:15, 0] - shifted[5, 5:15, 0], 4.0, atol=1.0)
    assert JITTERS[0] == (0.0, 0.0, 1.0)


def test_context_crop_keeps_a_margin_inside_the_image():
    image = np.zeros((100, 80, 3), np.uint8)
    assert context_crop(image, 20, 30, 40, 60).shape == (66, 44, 3)  # 0.6 of 30 px and of 20 px each side
    assert context_crop(image, 0, 0, 80, 100).shape == (100, 80, 3)


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
