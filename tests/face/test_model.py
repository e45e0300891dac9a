"""The PyTorch port of dlib's descriptor network matches dlib itself."""

from __future__ import annotations

import numpy as np
import pytest

from sightkit.errors import ModelError
from sightkit.tasks.face import model
from sightkit.tasks.face.align import face_chip, fit_landmarks
from sightkit.tasks.face.detect import detect_faces
from sightkit.tasks.face.embed import embed_chips


def test_model_files_are_found_without_importing_the_package():
    assert model.model_file(model.RESNET).stat().st_size > 20_000_000


def test_missing_model_file_is_a_clear_error():
    with pytest.raises(ModelError, match="pip install face_recognition_models"):
        model.model_file("nope.dat")


def test_torch_descriptor_matches_dlib(astronaut):
    import dlib

    box = detect_faces(astronaut)[0]
    shape = fit_landmarks(astronaut, box)
    chip = face_chip(astronaut, shape)
    ours = embed_chips([chip])[0]
    recognizer = dlib.face_recognition_model_v1(str(model.model_file(model.RESNET)))
    reference = np.array(recognizer.compute_face_descriptor(chip))
    assert np.abs(ours - reference).max() < 1e-4


def test_flip_tta_is_symmetric(astronaut):
    box = detect_faces(astronaut)[0]
    chip = face_chip(astronaut, fit_landmarks(astronaut, box))
    a = embed_chips([chip], flip=True)[0]
    b = embed_chips([np.ascontiguousarray(chip[:, ::-1])], flip=True)[0]
    assert np.allclose(a, b, atol=1e-5)


def test_not_a_model_file(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="not a dlib face descriptor model"):
        model.load_resnet(str(bad))
