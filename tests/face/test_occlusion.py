"""Occlusion-consistent matching: the hidden region in the chip, masking, re-ranking, and the gallery path."""

from __future__ import annotations

import numpy as np
import pytest

from sightkit.tasks.face.api import FaceGallery
from sightkit.tasks.face.occlusion import NEUTRAL_GREY, mask_chip, needs_rerank, rerank_occluded
from sightkit.tasks.face.pipeline import FaceOptions, describe, find_faces


@pytest.fixture(scope="module")
def occluded_crop(face_crop: np.ndarray) -> np.ndarray:
    """The face crop with a black box over its upper-left quarter (the viewer's left eye)."""
    image = face_crop.copy()
    height, width = image.shape[:2]
    image[: height // 2, : width // 2] = 0
    return image


def test_occluded_face_carries_its_hidden_region_in_chip_space(occluded_crop):
    face = max(find_faces(occluded_crop, FaceOptions(crops=True)), key=lambda f: f.box.area)
    assert face.hidden is not None and face.hidden.shape == face.chip.shape[:2]
    assert 0.05 < face.hidden.mean() < 0.6
    half = face.hidden.shape[1] // 2
    assert face.hidden[:, :half].sum() > 3 * face.hidden[:, half:].sum()  # the box was on the left
    assert needs_rerank(face.hidden)
    alignments = face.alignments()
    assert len(alignments) == 15 and alignments[0][0] is face.chip  # as aligned, then 14 refits
    assert all(chip.shape == face.chip.shape and hidden.shape == face.hidden.shape for chip, hidden in alignments)
    assert len({hidden.sum() for _, hidden in alignments}) > 1  # refits move the hidden region in the chip


def test_clean_face_has_no_hidden_region(face_crop):
    face = find_faces(face_crop, FaceOptions(crops=True))[0]
    assert face.hidden is None and not needs_rerank(face.hidden) and face.alignments() == []


def test_mask_chip_greys_only_the_hidden_pixels():
    chip = np.full((6, 6, 3), 7, np.uint8)
    hidden = np.zeros((6, 6), bool)
    hidden[2:4, 1:3] = True
    masked = mask_chip(chip, hidden)
    assert (masked[hidden] == NEUTRAL_GREY).all() and (masked[~hidden] == 7).all()
    assert (chip == 7).all()  # the input is not changed


def test_rerank_puts_the_person_with_matching_chips_first(occluded_crop, face_crop):
    probe = describe([occluded_crop], FaceOptions(crops=True))[0][0]
    own_chip = describe([face_crop], FaceOptions(crops=True))[0][0].chip
    noise_chip = np.random.default_rng(0).integers(0, 255, own_chip.shape, dtype=np.uint8)
    chips = {"eileen": [own_chip], "stranger": [noise_chip]}
    plain = [("stranger", 0.30), ("eileen", 0.50), ("nobody", 0.55), ("far", 0.90)]
    reranked = rerank_occluded(probe.alignments(), plain, lambda name: chips.get(name, []), top=3)
    names = [name for name, _ in reranked]
    assert names[0] == "eileen" and reranked[0][1] < 0.30
    assert ("nobody", 0.55) in reranked  # no chips: plain distance kept
    assert reranked[-1] == ("far", 0.90)  # beyond ``top``: unchanged and last
    assert [d for _, d in reranked[:3]] == sorted(d for _, d in reranked[:3])


def test_gallery_with_kept_chips_matches_occluded_faces_closer(tmp_path, face_crop, occluded_crop):
    distances = {}
    for keep in (False, True):
        with FaceGallery(tmp_path / f"keep-{keep}.db", keep_images=keep, options=FaceOptions(crops=True)) as gallery:
            gallery.enroll("eileen", [face_crop])
            found = gallery.identify(occluded_crop, threshold=1.0)
            assert [f.name for f in found] == ["eileen"]
            distances[keep] = found[0].distance
    assert distances[True] < distances[False]
