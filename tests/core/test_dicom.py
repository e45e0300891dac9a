"""Tests of DICOM input (sightkit.core.dicom through sightkit.core.images.load_image)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from sightkit.core.dicom import (WINDOW_ENV_VAR, WINDOW_PRESETS, dicom_array, read_dataset,  # noqa: E402
                                 window_setting)
from sightkit.core.images import is_grayscale, is_image_file, load_image, peek  # noqa: E402
from sightkit.data.discover import discover  # noqa: E402
from sightkit.errors import ConfigError, ImageError  # noqa: E402

PATIENT_NAME, PATIENT_ID, BIRTH_DATE = "Doe^Jane", "PID-918273", "19610203"


def write_dicom(path: Path, pixels: np.ndarray, *, photometric: str = "MONOCHROME2", bits_stored: int = 12,
                signed: bool = False, pixel_data: bool = True, **tags: object) -> Path:
    """A small uncompressed DICOM file of ``pixels`` (frames x H x W, H x W, or H x W x 3 uint8 RGB)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT image storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.Modality = PATIENT_NAME, PATIENT_ID, BIRTH_DATE, "CT"
    colour = pixels.ndim == 3 and pixels.shape[-1] == 3 and photometric == "RGB"
    if colour:
        ds.SamplesPerPixel, ds.PlanarConfiguration, ds.BitsAllocated, ds.BitsStored = 3, 0, 8, 8
        pixels = pixels.astype(np.uint8)
    else:
        ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored = 1, 16, bits_stored
        pixels = pixels.astype(np.int16 if signed else np.uint16)
        if pixels.ndim == 3:
            ds.NumberOfFrames = pixels.shape[0]
    ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, int(signed)
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape[-3 if colour else -2], pixels.shape[-2 if colour else -1]
    for key, value in tags.items():
        setattr(ds, key, value)
    if pixel_data:
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _unit(path: Path, window: str | None = None, frame: int | None = None) -> np.ndarray:
    with open(path, "rb") as fp:
        return dicom_array(read_dataset(fp, str(path)), str(path), window, frame)


@pytest.fixture
def ramp() -> np.ndarray:
    return np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (8, 1))  # 8 x 64, the 12-bit range


def test_rescale_slope_intercept_gives_modality_units_before_the_window(tmp_path: Path) -> None:
    # stored 475 / 500 / 525 with slope 2, intercept -1000 are -50 / 0 / 50 HU
    pixels = np.array([[475, 500, 525, 500]] * 2)
    path = write_dicom(tmp_path / "ct.dcm", pixels, RescaleSlope=2, RescaleIntercept=-1000)
    unit = _unit(path, "0,101")  # DICOM LINEAR: (x - (c - 0.5)) / (w - 1) + 0.5
    assert unit[0].tolist() == pytest.approx([0.005, 0.505, 1.0, 0.505], abs=1e-6)


def test_depth_is_kept_until_the_final_8_bit_step(tmp_path: Path) -> None:
    # 1000 and 1001 differ by 1/4095 of the 12-bit range: one 8-bit level apart only if the window
    # is applied to the 12-bit values, never if they were cut to 8 bits first
    path = write_dicom(tmp_path / "a.dcm", np.array([[1000, 1001], [1000, 1001]]))
    pixels = np.asarray(load_image(path, "L", window="1000.5,3"))
    assert pixels[0].tolist() == [128, 255]


def test_monochrome1_is_inverted(tmp_path: Path, ramp: np.ndarray) -> None:
    normal = _unit(write_dicom(tmp_path / "m2.dcm", ramp), "minmax")
    inverted = _unit(write_dicom(tmp_path / "m1.dcm", ramp, photometric="MONOCHROME1"), "minmax")
    assert normal[0, 0] == 0.0 and normal[0, -1] == 1.0
    np.testing.assert_allclose(inverted, 1.0 - normal, atol=1e-6)


def test_window_presets_and_their_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hu = np.array([[-1000, -600, 40, 400, 1000, 3000]] * 2)
    path = write_dicom(tmp_path / "ct.dcm", hu + 1024, RescaleSlope=1, RescaleIntercept=-1024,
                       WindowCenter=40, WindowWidth=400)
    for name, (centre, width) in WINDOW_PRESETS.items():
        np.testing.assert_allclose(_unit(path, name), _unit(path, f"{centre},{width}"))
    assert _unit(path, "lung")[0, 1] == pytest.approx(0.5, abs=1e-3)  # the lung window's centre is mid-grey
    np.testing.assert_allclose(_unit(path), _unit(path, "soft"))  # the file's window by default
    monkeypatch.setenv(WINDOW_ENV_VAR, "bone")  # the configured window wins over the file's
    np.testing.assert_allclose(_unit(path), _unit(path, "400,1800"))
    monkeypatch.delenv(WINDOW_ENV_VAR)
    no_window = write_dicom(tmp_path / "plain.dcm", hu + 1024, RescaleSlope=1, RescaleIntercept=-1024)
    assert _unit(no_window).min() == 0.0 and _unit(no_window).max() == 1.0  # min-max
    with pytest.raises(ImageError, match="lung, soft, bone, brain"):
        load_image(path, window="liver")


def test_the_configured_window_is_what_a_bundle_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WINDOW_ENV_VAR, raising=False)
    assert window_setting() == {}
    monkeypatch.setenv(WINDOW_ENV_VAR, "lung")
    assert window_setting() == {"dicom_window": "lung"}
    monkeypatch.setenv(WINDOW_ENV_VAR, "lungs")
    with pytest.raises(ConfigError, match="SIGHTKIT_DICOM_WINDOW='lungs': use one of lung"):
        window_setting()


def test_multi_frame_gives_the_middle_frame_or_the_one_asked_for(tmp_path: Path, ramp: np.ndarray) -> None:
    frames = np.stack([ramp, ramp[:, ::-1], ramp // 2])
    path = write_dicom(tmp_path / "series.dcm", frames)
    assert peek(path) == (64, 8, "I;16")
    middle = np.asarray(load_image(path, "L", window="minmax"))
    assert middle[0, 0] == 255 and middle[0, -1] == 0  # frame 1 is the reversed ramp
    first = np.asarray(load_image(path, "L", window="minmax", frame=0))
    assert first[0, 0] == 0 and first[0, -1] == 255
    with pytest.raises(ImageError, match="frame 3 asked for, the file has 3"):
        load_image(path, frame=3)


def test_colour_dicom_loads_as_rgb(tmp_path: Path) -> None:
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 30
    path = write_dicom(tmp_path / "photo.dcm", rgb, photometric="RGB")
    assert peek(path) == (5, 4, "RGB") and not is_grayscale(path)
    assert np.asarray(load_image(path))[0, 0].tolist() == [200, 0, 30]


def test_dicom_is_found_by_suffix_or_preamble_and_scanned_as_an_image(tmp_path: Path, ramp: np.ndarray) -> None:
    assert is_image_file("scans/IM0001.DCM")
    path = write_dicom(tmp_path / "IM0001", ramp)  # no suffix: the DICM preamble tells
    assert load_image(path).size == (64, 8) and is_grayscale(path)
    assert load_image(path.read_bytes(), "L").mode == "L"
    for label in ("normal", "abnormal"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(5):
            write_dicom(tmp_path / "data" / label / f"{i}.dcm", ramp + i)
    splits = discover(tmp_path / "data", val_fraction=0.2)
    assert len(splits.train) + len(splits.val) == 10 and splits.grayscale


def test_no_pixel_data_is_one_clear_line(tmp_path: Path, ramp: np.ndarray) -> None:
    path = write_dicom(tmp_path / "report.dcm", ramp, pixel_data=False)
    for read in (load_image, peek):
        with pytest.raises(ImageError, match="report.dcm: DICOM file has no pixel data") as caught:
            read(path)
        assert "\n" not in str(caught.value)


def test_patient_identifiers_never_reach_errors_or_logs(tmp_path: Path, ramp: np.ndarray,
                                                        caplog: pytest.LogCaptureFixture,
                                                        capfd: pytest.CaptureFixture) -> None:
    broken = write_dicom(tmp_path / "broken.dcm", ramp)
    data = broken.read_bytes()
    broken.write_bytes(data[:-100])  # pixel data shorter than Rows x Columns
    odd = write_dicom(tmp_path / "odd.dcm", ramp, PatientBirthDate="1961x0203", PatientSex="Female")
    report = write_dicom(tmp_path / "report.dcm", ramp, pixel_data=False)
    caplog.clear()
    capfd.readouterr()  # what writing the files printed
    messages = []
    with caplog.at_level(logging.DEBUG):
        for path in (broken, odd, report):
            try:
                load_image(path)
            except ImageError as err:
                messages.append(str(err))
    assert len(messages) == 2 and "broken.dcm" in messages[0]
    seen = " ".join(messages) + caplog.text + "".join(capfd.readouterr())
    for identifier in ("Doe", "Jane", PATIENT_ID, BIRTH_DATE, "1961x0203"):
        assert identifier not in seen


def test_corrupt_dicom_bytes_give_an_image_or_one_image_error(tmp_path: Path, ramp: np.ndarray) -> None:
    """pydicom parses elements lazily, so damage surfaces anywhere; 300 seeded byte flips and cuts."""
    frames = write_dicom(tmp_path / "f.dcm", np.stack([ramp, ramp]), RescaleSlope=1, RescaleIntercept=-1024,
                         WindowCenter=40, WindowWidth=400).read_bytes()
    colour = write_dicom(tmp_path / "c.dcm", np.zeros((4, 5, 3)), photometric="RGB").read_bytes()
    rng = np.random.default_rng(0)
    outcomes = {"image": 0, "error": 0}
    for i in range(300):
        data = bytearray(frames if i % 2 else colour)
        for position in rng.integers(128, len(data) if i % 3 else 600, size=rng.integers(1, 6)):
            data[position] = rng.integers(0, 256)
        if i % 5 == 0:
            data = data[:rng.integers(132, len(data))]
        path = tmp_path / "damaged.dcm"
        path.write_bytes(bytes(data))
        try:
            peek(path)
            load_image(path)
            outcomes["image"] += 1
        except ImageError as err:
            assert "\n" not in str(err) and str(err).startswith(str(path))
            outcomes["error"] += 1
    assert outcomes["image"] > 0 and outcomes["error"] > 0


def test_every_pydicom_test_file_loads_or_says_why_in_one_line() -> None:  # ~2 s
    from pydicom.data import get_testdata_files

    files = get_testdata_files()
    loaded, refused = 0, []
    for name in files:
        try:
            load_image(name, mode=None)
            loaded += 1
        except ImageError as err:
            refused.append(str(err))
    assert loaded + len(refused) == len(files) and loaded >= 60
    assert all("\n" not in m and m.startswith(str(Path(m.split(": ")[0]))) for m in refused)
    codec = [m for m in refused if "install a decoder" in m]
    assert all("pip install pylibjpeg" in m for m in codec)
