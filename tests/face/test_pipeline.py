"""Detection, alignment, restoration, the ladder and the degradation protocol."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sightkit.errors import ConfigError
from sightkit.tasks.face.degrade import CONDITIONS, degrade
from sightkit.tasks.face.detect import centred_weak_box, detect_faces
from sightkit.tasks.face.ladder import JITTERS, LEVELS, NATIVE, level_for, synthetic_views
from sightkit.tasks.face.pipeline import FaceOptions, describe, find_faces
from sightkit.tasks.face.restore import fill_occluder, find_occluder, upscale


def test_hog_finds_the_one_face(astronaut):
    boxes = detect_faces(astronaut)
    assert len(boxes) == 1 and boxes[0].source == "hog"
    assert 150 < (boxes[0].left + boxes[0].right) / 2 < 280


def test_cnn_detector_and_options(face_crop):
    small = face_crop
    assert detect_faces(small, "cnn", upsample=0)[0].source == "cnn"
    with pytest.raises(ConfigError, match="--detector"):
        detect_faces(small, "yolo")
    with pytest.raises(ConfigError, match="--upsample"):
        detect_faces(small, upsample=9)


def test_faces_have_landmarks_chip_and_descriptor(astronaut):
    faces = describe([astronaut], FaceOptions(landmarks=68))[0]
    assert len(faces) == 1
    face = faces[0]
    assert face.landmarks.shape == (68, 2) and face.chip.shape == (150, 150, 3)
    assert face.embedding.shape == (128,) and 20 < face.size_px < 80


def test_face_at_the_border_is_found(astronaut):
    cut = np.ascontiguousarray(astronaut[60:260, 200:420])  # the face's left part is cut off
    faces = find_faces(cut, FaceOptions(fallback=True))
    assert len(faces) == 1 and faces[0].box.left == 0


def test_crops_fall_back_to_the_whole_image():
    flat = np.full((40, 30, 3), 128, np.uint8)
    assert find_faces(flat, FaceOptions()) == []
    faces = find_faces(flat, FaceOptions(crops=True, fallback=False))
    assert faces[0].box.source == "whole" and faces[0].box.width == 30


def test_hidden_face_in_a_crop_takes_the_centred_weak_window(face_crop):
    clean = detect_faces(face_crop, "hog")[0]
    hidden = np.ascontiguousarray(np.asarray(degrade(Image.fromarray(face_crop), "occlusion35", 0, 14)))
    face = find_faces(hidden, FaceOptions(crops=True))[0]
    assert face.box.source == "hog-weak" and face.box.score < 0  # no detector fired on the filled crop
    centre = np.array([(face.box.left + face.box.right) / 2, (face.box.top + face.box.bottom) / 2])
    assert np.abs(centre - [(clean.left + clean.right) / 2, (clean.top + clean.bottom) / 2]).max() < 0.15 * clean.width
    assert find_faces(hidden, FaceOptions(crops=True, weak_window=False))[0].box.source == "whole"


def test_centred_weak_window_needs_a_face_like_pattern():
    assert centred_weak_box(np.full((170, 160, 3), 120, np.uint8)) is None
    noise = np.random.default_rng(0).integers(0, 255, (170, 160, 3), dtype=np.uint8)
    assert centred_weak_box(noise) is None


def test_occluder_is_found_and_filled():
    img = np.tile(np.linspace(40, 200, 40, dtype=np.uint8)[None, :, None], (40, 1, 3))
    img[5:20, 2:15] = 0
    mask = find_occluder(img)
    assert mask is not None and mask.sum() == 15 * 13
    filled = fill_occluder(img, mask, axis_x=19.5)
    assert filled[mask].min() > 0
    assert find_occluder(np.full((40, 40, 3), 90, np.uint8)) is None


def test_learned_occluder_fill_changes_only_the_doubly_hidden_part():
    from sightkit.tasks.enhance.inpaint.shipped import shipped_inpaint_models

    if "face" not in shipped_inpaint_models():
        pytest.skip("the face inpainting model is not installed")
    img = np.tile(np.linspace(40, 200, 40, dtype=np.uint8)[None, :, None], (40, 1, 3))
    hidden = np.zeros((40, 40), bool)
    hidden[10:30, 12:32] = True  # off the axis: columns 28-31 have a visible mirror, 12-27 none
    img[hidden] = 0
    harmonic = fill_occluder(img, hidden, axis_x=19.5)
    learned = fill_occluder(img, hidden, axis_x=19.5, learned=True)
    assert np.array_equal(learned[~hidden], img[~hidden]) and learned[hidden].min() > 0
    mirrored = hidden & ~hidden[:, ::-1]  # the mirror of column c is 39 - c: visible there, both fills copy it
    assert mirrored.sum() == 20 * 4 and np.array_equal(learned[mirrored], harmonic[mirrored])
    with pytest.raises(ConfigError, match="occluder_fill must be one of harmonic, learned"):
        FaceOptions(occluder_fill="gan")


def test_upscale_sizes():
    assert upscale(np.zeros((16, 13, 3), np.uint8), 2.0, sharpen=0.5).shape == (32, 26, 3)


def test_ladder_levels():
    assert level_for(100.0) == NATIVE
    assert level_for(4.2) == 4.0 and level_for(11.0) == 11.3
    assert list(LEVELS) == sorted(LEVELS)


def test_synthetic_views_cover_the_ladder(face_crop):
    options = FaceOptions(crops=True, fallback=False)
    face = find_faces(face_crop, options)[0]
    views = synthetic_views(face_crop, face, options)
    assert sorted({level for level, _ in views}) == list(LEVELS)
    smallest = [view for level, view in views if level == LEVELS[0]]
    assert len(smallest) == len(JITTERS)  # one view per jitter below the face's own resolution
    assert all(view.size_px < 10 for view in smallest)  # the 4 px views are tiny faces
    assert len({round(view.size_px, 2) for view in smallest}) > 1  # and differ in size


@pytest.mark.parametrize("condition", CONDITIONS)
def test_degradations_are_seeded(condition):
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 255, (112, 92), dtype=np.uint8)).convert("RGB")
    a, b = degrade(img, condition, seed=0, index=3), degrade(img, condition, seed=0, index=3)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    if condition.startswith("lowres"):
        assert a.height == int(condition[6:])
    if condition.startswith("occlusion"):
        share = (np.asarray(a).max(-1) == 0).mean()
        assert abs(share - int(condition[9:]) / 100) < 0.03


def test_unknown_degradation():
    with pytest.raises(ConfigError, match="unknown degradation"):
        degrade(Image.new("L", (10, 10)), "fog")


def test_small_face_in_a_whole_photo_is_found_in_an_enlarged_copy(astronaut):
    # The whole photo shrunk until the face is about 24 px tall: too small for HOG (80 px) as it is.
    face_height = detect_faces(astronaut)[0].height
    photo = np.asarray(degrade(Image.fromarray(astronaut), "lowres24", face_height=face_height))
    assert photo.shape[0] < 200 and not detect_faces(photo, "hog")
    faces = find_faces(photo, FaceOptions())
    assert faces and faces[0].box.source == "hog" and faces[0].size_px < 16  # best detection first
    centre_x = (faces[0].box.left + faces[0].box.right) / 2 / photo.shape[1]
    assert 0.35 < centre_x < 0.55  # where the astronaut's face is, not the whole image


def test_automatic_crop_decision(face_crop):
    tiny_crop = np.asarray(degrade(Image.fromarray(face_crop), "lowres16"))
    assert find_faces(tiny_crop, FaceOptions())[0].box.source in ("whole", "hog", "cnn")
    assert find_faces(np.full((40, 30, 3), 128, np.uint8), FaceOptions()) == []  # a flat thumbnail: no face
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    assert find_faces(noise, FaceOptions()) == []
    hidden = np.ascontiguousarray(np.asarray(degrade(Image.fromarray(face_crop), "occlusion35", 0, 14)))
    assert find_faces(hidden, FaceOptions())[0].box.source == "hog-weak"  # a partly hidden crop
    assert find_faces(hidden, FaceOptions(crops=False, weak_window=False)) == []


def test_frame_degradation_scales_to_the_face():
    photo = Image.new("RGB", (320, 240))
    assert degrade(photo, "lowres16", face_height=80).size == (64, 48)
    assert degrade(photo, "lowres16").size == (21, 16)


def test_weak_window_beside_an_occluder_in_a_whole_photo(astronaut):
    from sightkit.tasks.face.detect import weak_box_by_occluder

    face = detect_faces(astronaut)[0]
    hidden = np.zeros(astronaut.shape[:2], bool)
    hidden[face.top + face.height // 2:face.bottom + 10, face.left - 10:face.right + 10] = True  # lower half
    photo = astronaut.copy()
    photo[hidden] = 0
    assert detect_faces(photo) == []
    box = weak_box_by_occluder(photo, hidden)
    assert box.source == "hog-weak" and abs(box.left - face.left) < 20 and abs(box.top - face.top) < 20
    elsewhere = np.zeros_like(hidden)
    elsewhere[400:500, 400:500] = True  # a box far from the face: no window touches it
    assert weak_box_by_occluder(np.where(elsewhere[..., None], 0, astronaut).astype(np.uint8), elsewhere) is None
