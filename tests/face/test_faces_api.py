"""The public ``sightkit.faces`` API: find() and compare() on scikit-image's astronaut."""

from __future__ import annotations

import numpy as np
import pytest

from sightkit import faces
from sightkit.errors import ConfigError
from sightkit.tasks.face.api import FaceGallery


@pytest.fixture(scope="module")
def eileen(astronaut) -> faces.Face:
    found = faces.find(astronaut)
    assert len(found) == 1
    return found[0]


def test_find_gives_box_named_landmarks_and_embedding(eileen):
    box = eileen.box
    assert 150 < (box.left + box.right) / 2 < 280 and box.source == "hog"
    assert set(eileen.landmarks) == {"left_eye", "right_eye", "nose_tip"}
    (left_x, _), (right_x, _) = eileen.landmarks["left_eye"][0], eileen.landmarks["right_eye"][0]
    nose_x, nose_y = eileen.landmarks["nose_tip"][0]
    assert left_x < nose_x < right_x and box.left < nose_x < box.right and box.top < nose_y < box.bottom
    assert eileen.embedding.dtype == np.float32 and eileen.embedding.shape == (128,)
    assert 20 < eileen.eye_distance_px < 80
    assert set(eileen.to_dict()) == {"box", "landmarks", "eye_distance_px", "embedding"}


def test_68_landmarks_are_grouped_as_face_recognition_does(face_crop):
    face = faces.find(face_crop, landmarks=68)[0]
    sizes = {name: len(points) for name, points in face.landmarks.items()}
    assert sizes == {"chin": 17, "left_eyebrow": 5, "right_eyebrow": 5, "nose_bridge": 4, "nose_tip": 5,
                     "left_eye": 6, "right_eye": 6, "top_lip": 12, "bottom_lip": 12}
    assert np.mean(face.landmarks["top_lip"], axis=0)[1] < np.mean(face.landmarks["bottom_lip"], axis=0)[1]


def test_no_face_gives_an_empty_list():
    assert faces.find(np.full((120, 120, 3), 128, np.uint8)) == []


def test_compare_matches_the_same_person_and_states_its_threshold(eileen, astronaut):
    mirrored = faces.find(np.ascontiguousarray(astronaut[:, ::-1]))[0]
    same = faces.compare(eileen, mirrored)
    assert same.match and same.distance < 0.3 and same.threshold == faces.DEFAULT_THRESHOLD == 0.6
    assert not faces.compare(eileen, mirrored, threshold=same.distance / 2).match
    other = faces.compare(eileen.embedding, np.zeros(128, np.float32))
    assert not other.match and other.distance == pytest.approx(float(np.linalg.norm(eileen.embedding)))
    with pytest.raises(ConfigError, match="128 numbers"):
        faces.compare(eileen, np.zeros(64))


def test_find_agrees_with_a_gallery(eileen, astronaut, tmp_path):
    with FaceGallery(tmp_path / "g.db", ladder=False) as gallery:
        gallery.enroll("eileen", [astronaut])
        match = gallery.identify(astronaut)[0]
    assert match.distance < 1e-3
    assert match.face.embedding == pytest.approx(eileen.embedding, abs=1e-5)
