"""Upscaling files: names, formats, EXIF, and no partial output on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from enhance_helpers import smooth_image
from PIL import Image

from sightkit.errors import DataError, EnhanceError
from sightkit.tasks.enhance.api import Upscaler
from sightkit.tasks.enhance.files import output_path


@pytest.fixture
def upscaler(bundle_factory) -> Upscaler:
    return Upscaler.load(bundle_factory(scale=2))


def _jpeg_with_exif(path: Path, orientation: int = 6) -> Path:
    image = smooth_image(30, 40)
    exif = Image.Exif()
    exif[0x0110] = "sightkit test camera"  # Model
    exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes(), quality=95)
    return path


def test_folder_is_upscaled_keeping_names_formats_and_exif(upscaler: Upscaler, tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    _jpeg_with_exif(src / "photo.jpg")
    smooth_image(30, 30, mode="LA").save(src / "sub" / "logo.png")
    smooth_image(30, 30, mode="P").save(src / "anim.gif")
    results = upscaler.upscale_files([src], tmp_path / "out")
    assert [r.error for r in results] == [None, None, None]
    photo = Image.open(tmp_path / "out" / "photo.jpg")
    assert photo.size == (60, 80)  # EXIF orientation 6 applied: upright pixels
    exif = photo.getexif()
    assert exif[0x0110] == "sightkit test camera" and exif[0x0112] == 1
    assert Image.open(tmp_path / "out" / "logo.png").mode == "LA"
    assert Image.open(tmp_path / "out" / "anim.png").mode == "RGB"
    assert any("palette" in note for r in results for note in r.notes)


def test_output_folder_that_is_a_file_is_refused(upscaler: Upscaler, tmp_path: Path) -> None:
    smooth_image(30, 30).save(tmp_path / "a.png")
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(EnhanceError, match="is a file"):
        upscaler.upscale_files([tmp_path / "a.png"], tmp_path / "out")


def test_bad_files_are_reported_and_leave_no_output(upscaler: Upscaler, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    smooth_image(30, 30).save(src / "good.png")
    smooth_image(8, 8).save(src / "tiny.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    results = {Path(r.path).name: r for r in upscaler.upscale_files([src], tmp_path / "out")}
    assert results["good.png"].error is None
    assert "receptive field" in results["tiny.png"].error
    assert "not a readable image" in results["broken.png"].error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]


def test_writing_over_an_input_is_refused(upscaler: Upscaler, tmp_path: Path) -> None:
    smooth_image(30, 30).save(tmp_path / "a.png")
    with pytest.raises(EnhanceError, match="overwrite the input"):
        upscaler.upscale_files([tmp_path / "a.png"], tmp_path)


def test_missing_input_is_a_data_error(upscaler: Upscaler, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        upscaler.upscale_files([tmp_path / "nope*.png"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_names() -> None:
    assert output_path(Path("a/b.JPG"), Path("o")) == Path("o/b.JPG")
    assert output_path(Path("a/b.gif"), Path("o")) == Path("o/b.png")


def test_cmyk_jpeg_becomes_rgb(upscaler: Upscaler, tmp_path: Path) -> None:
    smooth_image(30, 30).convert("CMYK").save(tmp_path / "print.jpg")
    results = upscaler.upscale_files([tmp_path / "print.jpg"], tmp_path / "out")
    assert results[0].error is None and "CMYK" in results[0].notes[0]
    out = Image.open(tmp_path / "out" / "print.jpg")
    assert out.mode == "RGB" and np.asarray(out).std() > 5
