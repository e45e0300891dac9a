"""The medical path end to end through the CLI: DICOM training data, an operating threshold, evaluate, predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

PER_CLASS = 14


def _write_dicom(path: Path, pixels: np.ndarray) -> None:
    """A 12-bit MONOCHROME2 DICOM file of 8-bit ``pixels`` x 16, with a patient name that must never show."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.Modality = "Roe^Richard", "MRN-4455", "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (pixels.astype(np.uint16) * 16).tobytes()
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture
def dicom_data(tmp_path: Path, pattern_maker) -> Path:
    rng = np.random.default_rng(0)
    for name in ("dark", "bright"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            _write_dicom(tmp_path / "data" / name / f"{i:02d}.dcm", pattern_maker(name, 12, rng))
    return tmp_path / "data"


def test_dicom_training_with_a_target_sensitivity_then_evaluate_and_predict(cli, dicom_data: Path, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    monkeypatch.setenv("SIGHTKIT_DICOM_WINDOW", "minmax")  # recorded in the bundle, used by evaluate and predict
    code, out, err = cli("classify", "train", dicom_data, "--model", "skcnn_tiny", "--epochs", "2", "--batch-size",
                         "8", "--target-sensitivity", "0.9", "--positive-class", "bright", "--out", run, "--json",
                         "--no-progress")
    assert code == 0, err
    trained = json.loads(out)
    assert trained["medical"]["positive_class"] == "bright" and "roc" not in trained["medical"]
    meta = json.loads((run / "model" / "bundle.json").read_text())
    decision = meta["decision"]
    assert meta["preprocessing"]["dicom_window"] == "minmax"
    monkeypatch.delenv("SIGHTKIT_DICOM_WINDOW")
    assert decision["positive_class"] == "bright" and decision["target_sensitivity"] == 0.9
    assert decision["sensitivity"] >= 0.9 and 0.0 <= decision["threshold"] <= 1.0

    code, out, err = cli("classify", "evaluate", run / "model", dicom_data, "--json", "--out", tmp_path / "report")
    assert code == 0, err
    medical = json.loads(out)["medical"]
    assert medical["threshold"] == decision["threshold"] and medical["auroc"]["ci95"] is not None
    assert "bundle: sensitivity 0.9 targeted on the val split" == medical["threshold_source"]
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Roc curve" in html and "Roe^Richard" not in html and "MRN-4455" not in html  # ^, - are not base64
    code, out, err = cli("classify", "evaluate", run / "model", dicom_data)  # the table
    assert code == 0 and "sensitivity" in out and "95% CI" in out

    code, out, err = cli("classify", "predict", run / "model", dicom_data / "bright", "--json")
    assert code == 0, err
    predictions = json.loads(out)
    assert len(predictions) == PER_CLASS and all(p["threshold"] == decision["threshold"] for p in predictions)
    assert all((p["label"] == "bright") == (dict((t["label"], t["score"]) for t in p["topk"])["bright"]
                                           >= decision["threshold"]) for p in predictions)
    assert "decision: bright when its probability >=" in err


def test_a_positive_class_that_is_not_a_class_is_one_error_line(cli, dicom_data: Path, tmp_path: Path) -> None:
    code, out, err = cli("classify", "train", dicom_data, "--model", "skcnn_tiny", "--epochs", "1",
                         "--positive-class", "pneumonia", "--sensitivity", "0.9", "--out", tmp_path / "r",
                         "--no-progress")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: --positive-class 'pneumonia' is not a class")
    assert not (tmp_path / "r").exists()


def test_task_medical_scores_one_class_against_the_rest(cli, make_dataset, tmp_path: Path) -> None:
    data = make_dataset("three", per_class=10, classes=("dark", "bright", "stripes"))
    code, _, err = cli("classify", "train", data, "--model", "skcnn_tiny", "--epochs", "1", "--batch-size", "8",
                       "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    code, out, err = cli("classify", "evaluate", tmp_path / "run" / "model", data, "--json")
    assert code == 0 and "medical" not in json.loads(out)  # three classes: only when asked
    code, out, err = cli("classify", "evaluate", tmp_path / "run" / "model", data, "--json", "--task", "medical",
                         "--positive-class", "stripes")
    medical = json.loads(out)["medical"]
    assert code == 0 and medical["positive_class"] == "stripes" and medical["decision"] == "argmax"
    assert medical["n_positive"] + medical["n_negative"] == json.loads(out)["n"]
