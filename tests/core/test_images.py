"""Tests of sightkit.core.images: the one image loader."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sightkit.core.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    is_grayscale,
    is_image_file,
    load_image,
    peek,
)
from sightkit.errors import ImageError

RED = (200, 30, 40)


def _save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims width x height 8-bit grey pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _png_chunk(b"IEND", b""))


@pytest.fixture
def red(tmp_path: Path) -> Path:
    return _save(Image.new("RGB", (6, 4), RED), tmp_path / "red.png")


# --- suffixes and headers ----------------------------------------------------------

def test_is_image_file_by_suffix_case_insensitive():
    assert is_image_file("a/B.JPG") and is_image_file(Path("x.tiff"))
    assert not is_image_file("notes.txt") and not is_image_file("jpg")
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)


def test_peek_and_is_grayscale(tmp_path: Path, red: Path):
    assert peek(red) == (6, 4, "RGB")
    assert not is_grayscale(red)
    gray = _save(Image.new("L", (3, 5)), tmp_path / "g.png")
    deep = _save(Image.fromarray(np.zeros((5, 3), np.uint16)), tmp_path / "d.png")
    assert peek(gray) == (3, 5, "L") and is_grayscale(gray) and is_grayscale(deep)


def test_peek_reads_only_the_header_of_a_bomb(tmp_path: Path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_bomb_png())
    assert peek(bomb) == (20000, 20000, "L")
    assert is_grayscale(bomb)


def test_peek_errors(tmp_path: Path):
    with pytest.raises(ImageError, match="file not found"):
        peek(tmp_path / "none.png")
    (tmp_path / "x.jpg").write_text("hello")
    with pytest.raises(ImageError, match="x.jpg: not a readable image"):
        peek(tmp_path / "x.jpg")


# --- formats -----------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".gif", ".ppm", ".tif", ".webp"])
def test_colour_formats_round_trip(tmp_path: Path, suffix: str):
    path = _save(Image.new("RGB", (8, 6), RED), tmp_path / f"red{suffix}")
    rgb = np.asarray(load_image(path))
    gray = np.asarray(load_image(path, mode="L"))
    assert rgb.shape == (6, 8, 3) and rgb.dtype == np.uint8
    assert gray.shape == (6, 8)
    tolerance = 8 if suffix in (".jpg", ".webp", ".gif") else 0
    assert np.abs(rgb.astype(int) - RED).max() <= tolerance
    luma = round(RED[0] * 0.299 + RED[1] * 0.587 + RED[2] * 0.114)
    assert abs(int(gray.mean()) - luma) <= tolerance + 1


@pytest.mark.parametrize("suffix", [".pgm", ".png", ".jpg", ".tif"])
def test_grayscale_formats_round_trip(tmp_path: Path, suffix: str):
    path = _save(Image.new("L", (5, 7), 90), tmp_path / f"g{suffix}")
    assert load_image(path, mode=None).mode == "L"
    rgb = np.asarray(load_image(path))
    assert rgb.shape == (7, 5, 3)
    assert np.abs(rgb.astype(int) - 90).max() <= 2  # L -> RGB replicates


def test_animated_gif_gives_first_frame(tmp_path: Path):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    assert load_image(path).getpixel((0, 0)) == (255, 0, 0)


def test_multi_page_tiff_gives_first_page(tmp_path: Path):
    pages = [Image.new("L", (4, 4), v) for v in (10, 240)]
    path = tmp_path / "pages.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert load_image(path, mode="L").getpixel((0, 0)) == 10


# --- modes -------------------------------------------------------------------------

def test_sixteen_bit_png_scales_by_bit_depth(tmp_path: Path):
    values = np.array([[65535, 257 * 100], [0, 257 * 100]], np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    assert peek(path)[2].startswith("I;16")
    out = np.asarray(load_image(path, mode="L"))
    assert out.tolist() == [[255, 100], [0, 100]]
    assert load_image(path, mode=None).mode == "L"


def test_sixteen_bit_pgm_opened_as_mode_i(tmp_path: Path):
    values = np.full((3, 3), 257 * 100, np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.pgm")
    assert np.asarray(load_image(path, mode="L")).max() == 100


def test_float_tiff_is_zero_to_one(tmp_path: Path):
    values = np.array([[0.0, 0.5], [1.0, 2.0]], np.float32)
    path = _save(Image.fromarray(values), tmp_path / "f.tif")
    assert peek(path)[2] == "F"
    assert np.asarray(load_image(path, mode="L")).tolist() == [[0, 128], [255, 255]]


def test_one_bit_becomes_l(tmp_path: Path):
    img = Image.new("1", (4, 4), 0)
    img.putpixel((1, 1), 1)
    out = load_image(_save(img, tmp_path / "bw.png"), mode=None)
    assert out.mode == "L" and out.getpixel((1, 1)) == 255 and out.getpixel((0, 0)) == 0


def test_la_and_rgba_composite_over_white(tmp_path: Path):
    la = Image.new("LA", (4, 4), (0, 0))
    la.putpixel((0, 0), (50, 255))
    out = load_image(_save(la, tmp_path / "la.png"), mode=None)
    assert out.mode == "L" and out.getpixel((0, 0)) == 50 and out.getpixel((1, 1)) == 255
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    path = _save(rgba, tmp_path / "rgba.png")
    out = load_image(path)
    assert out.getpixel((0, 0)) == (255, 0, 0) and out.getpixel((1, 1)) == (255, 255, 255)
    kept = load_image(path, mode="RGBA")
    assert kept.mode == "RGBA" and kept.getpixel((1, 1))[3] == 0


def test_palette_with_and_without_transparency(tmp_path: Path):
    plain = Image.new("RGB", (4, 4), RED).convert("P", palette=Image.Palette.ADAPTIVE)
    assert load_image(_save(plain, tmp_path / "p.png")).getpixel((0, 0)) == RED
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((0, 0), 1)
    path = _save(img, tmp_path / "pt.gif", transparency=0)
    out = load_image(path)
    assert out.getpixel((0, 0)) == (0, 255, 0) and out.getpixel((2, 2)) == (255, 255, 255)


def test_cmyk_jpeg(tmp_path: Path):
    path = _save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), tmp_path / "cmyk.jpg")
    assert peek(path)[2] == "CMYK"
    r, g, b = load_image(path).getpixel((4, 4))
    assert r > 230 and g < 25 and b < 25


def test_ycbcr_and_rgb_to_l_luma():
    ycc = Image.new("RGB", (4, 4), RED).convert("YCbCr")
    assert np.abs(np.asarray(load_image(ycc)).astype(int) - RED).max() <= 3
    assert load_image(Image.new("RGB", (2, 2), (255, 0, 0)), mode="L").getpixel((0, 0)) == 76


def test_unknown_target_mode_is_a_programming_error(red: Path):
    with pytest.raises(ValueError, match="mode"):
        load_image(red, mode="CMYK")


# --- EXIF orientation --------------------------------------------------------------

@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int):
    img = Image.new("RGB", (40, 20), RED)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = _save(img, tmp_path / "rot.jpg", exif=exif)
    assert peek(path)[:2] == (40, 20)
    assert load_image(path).size == (20, 40)


# --- bad input ---------------------------------------------------------------------

def test_decompression_bomb_refused_from_header(tmp_path: Path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_bomb_png())
    start = time.perf_counter()
    with pytest.raises(ImageError, match=r"bomb.png: 20000x20000 px .*refusing to decode"):
        load_image(bomb)
    with pytest.raises(ImageError, match="20000x20000"):
        load_image(bomb.read_bytes())
    assert time.perf_counter() - start < 1.0


def test_bomb_below_pillow_hard_limit_gives_no_pillow_warning(tmp_path: Path, recwarn):
    bomb = tmp_path / "b.png"
    bomb.write_bytes(_bomb_png(10000, 10000))  # above Pillow's warning threshold
    with pytest.raises(ImageError, match=f"{DEFAULT_MAX_PIXELS:,}"):
        load_image(bomb)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_max_pixels_is_the_callers_choice(red: Path):
    with pytest.raises(ImageError, match="6x4 px"):
        load_image(red, max_pixels=23)
    assert load_image(red, max_pixels=24).size == (6, 4)


def test_truncated_jpeg(tmp_path: Path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    data = io.BytesIO()
    Image.fromarray(noise).save(data, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(ImageError, match="cut.jpg: corrupt or truncated"):
        load_image(path)


def test_text_file_named_jpg(tmp_path: Path):
    (tmp_path / "x.jpg").write_text("not an image")
    with pytest.raises(ImageError, match=r"x.jpg: not a readable image \("):
        load_image(tmp_path / "x.jpg")


def test_too_small(tmp_path: Path):
    path = _save(Image.new("RGB", (1, 1)), tmp_path / "dot.png")
    with pytest.raises(ImageError, match=r"dot.png: .*\(1x1 px; at least 2x2 needed\)"):
        load_image(path)
    assert load_image(path, min_side=1).size == (1, 1)


def test_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(ImageError, match="nope.png: file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


# --- other sources -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((4, 5), 7, np.uint8), 7),
        (np.full((4, 5, 1), 7, np.uint8), 7),
        (np.full((4, 5), 257 * 100, np.uint16), 100),
        (np.full((4, 5), 0.5, np.float32), 128),
        (np.full((4, 5, 3), 9, np.uint8), 9),
        (np.full((4, 5, 4), 255, np.uint8), 255),
    ],
)
def test_numpy_sources(array: np.ndarray, expected: int):
    out = load_image(array)
    assert out.size == (5, 4) and out.mode == "RGB"
    assert np.asarray(out).max() == expected


def test_bad_arrays_name_the_array():
    with pytest.raises(ImageError, match="<array>: shape"):
        load_image(np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(ImageError, match="<array>: dtype"):
        load_image(np.zeros((4, 5), np.int64))


def test_bytes_and_file_object_sources(red: Path):
    assert load_image(red.read_bytes()).getpixel((0, 0)) == RED
    with red.open("rb") as fp:
        assert load_image(fp).size == (6, 4)
    with pytest.raises(ImageError, match="<bytes>: not a readable image"):
        load_image(b"nonsense")


def test_pil_source_is_not_modified():
    src = Image.new("RGB", (4, 4), RED)
    out = load_image(src, mode="L")
    assert out is not src and src.mode == "RGB"


def test_result_is_detached_from_the_file(red: Path):
    img = load_image(red)
    red.unlink()
    assert getattr(img, "fp", None) is None
    assert img.resize((3, 2)).getpixel((0, 0)) == RED
