"""DICOM uploads through the service: classified like PNGs; one that holds no image is a 415 naming the upload."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from sightkit.serve import ServeConfig, create_app  # noqa: E402


def _dicom(pixels: np.ndarray | None) -> bytes:
    """A 16-bit MONOCHROME2 DICOM of ``pixels`` x 256 (None: no pixel data), with a patient name."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # secondary capture
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID = "Poe^Edgar", "ID-777"
    if pixels is not None:
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.WindowCenter, ds.WindowWidth = 32767.5, 65536  # LINEAR: 0-65535 -> 0-255 as the PNG
        ds.PixelData = (pixels.astype(np.uint16) * 257).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(classifier_bundle: Path) -> TestClient:
    with TestClient(create_app(ServeConfig(classifiers={"patterns": classifier_bundle}))) as test_client:
        yield test_client


def test_a_dicom_upload_is_classified_like_its_png(client: TestClient, bright_image: Path) -> None:
    from PIL import Image

    pixels = np.asarray(Image.open(bright_image).convert("L"))
    png = client.post("/v1/classify", files={"file": ("b.png", bright_image.read_bytes())})
    dcm = client.post("/v1/classify", files={"file": ("b.dcm", _dicom(pixels), "application/dicom")})
    assert png.status_code == dcm.status_code == 200, dcm.text
    assert dcm.json()["label"] == png.json()["label"] == "bright"
    assert dcm.json()["score"] == pytest.approx(png.json()["score"], abs=1e-4)


def test_a_dicom_without_pixel_data_is_refused_by_name(client: TestClient) -> None:
    answer = client.post("/v1/classify", files={"file": ("report.dcm", _dicom(None))})
    assert answer.status_code == 415 and "report.dcm: DICOM file has no pixel data" in answer.json()["detail"]
    assert "Poe" not in answer.text and "ID-777" not in answer.text
