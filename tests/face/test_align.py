"""Landmark refinement inside the aligned chip, and the chip-to-image mapping it relies on."""

from __future__ import annotations

import numpy as np
import pytest

from sightkit.tasks.face.align import CHIP_FACE_BOX, chip_to_image, face_chip, fit_landmarks, landmark_points, refine_landmarks
from sightkit.tasks.face.detect import Box, detect_faces


@pytest.fixture(scope="module")
def astronaut_shape(astronaut: np.ndarray):
    rgb = np.ascontiguousarray(astronaut)
    return fit_landmarks(rgb, detect_faces(rgb, "hog", 0)[0], 5)


def test_chip_to_image_matches_dlib_chip_extraction(astronaut: np.ndarray, astronaut_shape) -> None:
    import dlib

    details = dlib.get_face_chip_details(astronaut_shape, 150, 0.25)
    height, width = astronaut.shape[:2]
    xs = np.ascontiguousarray(np.tile(np.arange(width, dtype=np.float32), (height, 1)))
    ys = np.ascontiguousarray(np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width)))
    chip_x, chip_y = dlib.extract_image_chip(xs, details), dlib.extract_image_chip(ys, details)
    matrix, offset = chip_to_image(details)
    for u, v in [(0, 0), (75, 75), (149, 20), (30, 140)]:
        assert np.allclose(matrix @ (u, v) + offset, (chip_x[v, u], chip_y[v, u]), atol=1e-3)


def test_chip_face_box_is_where_hog_finds_an_aligned_face(astronaut: np.ndarray, astronaut_shape) -> None:
    found = detect_faces(face_chip(np.ascontiguousarray(astronaut), astronaut_shape), "hog", 0)
    assert len(found) == 1
    corners = np.array([found[0].left, found[0].top, found[0].right, found[0].bottom])
    expected = np.array([CHIP_FACE_BOX.left, CHIP_FACE_BOX.top, CHIP_FACE_BOX.right, CHIP_FACE_BOX.bottom])
    assert np.abs(corners - expected).max() <= 4


def test_refinement_recovers_landmarks_fitted_in_a_poor_box(face_crop: np.ndarray) -> None:
    canvas = np.zeros((300, 300, 3), np.uint8)
    canvas[65:65 + face_crop.shape[0], 70:70 + face_crop.shape[1]] = face_crop
    good = landmark_points(fit_landmarks(face_crop, detect_faces(face_crop, "hog", 1)[0], 5)) + (70, 65)
    eyes = np.linalg.norm(good[0:2].mean(0) - good[2:4].mean(0))
    poor = fit_landmarks(canvas, Box(40, 40, 260, 260, 0.0, "whole"), 5)

    def error(shape) -> float:
        return float(np.linalg.norm(landmark_points(shape) - good, axis=1).mean() / eyes)

    assert error(poor) > 0.2
    assert error(refine_landmarks(canvas, poor)) < 0.05
