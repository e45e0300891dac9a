"""Upscaling one image: modes are kept, bad input is refused clearly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from enhance_helpers import smooth_image
from PIL import Image

from sightkit.errors import EnhanceError, ImageError
from sightkit.tasks.enhance.api import Upscaler
from sightkit.tasks.enhance.predict import Predictor


@pytest.fixture
def upscaler(bundle_factory) -> Upscaler:
    return Upscaler.load(bundle_factory(scale=2))


@pytest.mark.parametrize(("mode", "expected"), [("RGB", "RGB"), ("L", "L"), ("RGBA", "RGBA"), ("LA", "LA"),
                                                ("P", "RGB"), ("CMYK", "RGB")])
def test_modes_are_kept(upscaler: Upscaler, mode: str, expected: str) -> None:
    image = smooth_image(30, 36, mode=mode)
    out = upscaler.upscale(image)
    assert (out.mode, out.size) == (expected, (72, 60))


def test_alpha_is_upscaled_not_dropped(upscaler: Upscaler) -> None:
    image = smooth_image(30, 30).convert("RGBA")
    alpha = np.zeros((30, 30), np.uint8)
    alpha[:, 15:] = 255
    image.putalpha(Image.fromarray(alpha))
    out_alpha = np.asarray(upscaler.upscale(image).getchannel("A"))
    assert out_alpha[:, :25].max() < 30 and out_alpha[:, 35:].min() > 225


def test_grayscale_input_gives_grey_output_like_its_rgb_twin(upscaler: Upscaler) -> None:
    grey = smooth_image(30, 30, mode="L")
    as_l = np.asarray(upscaler.upscale(grey), dtype=int)
    as_rgb = np.asarray(upscaler.upscale(grey.convert("RGB")), dtype=int)
    assert np.abs(as_rgb - as_l[..., None]).max() <= 1


def test_16_bit_png_is_read(upscaler: Upscaler, tmp_path) -> None:
    values = (np.asarray(smooth_image(30, 30, mode="L"), dtype=np.uint16) * 257)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    assert upscaler.upscale(path).mode == "L"


def test_rgb_model_takes_colour_directly(bundle_factory) -> None:
    out = Upscaler.load(bundle_factory(scale=3, channels=3)).upscale(smooth_image(24, 24))
    assert (out.mode, out.size) == ("RGB", (72, 72))


def test_image_smaller_than_receptive_field_is_refused(upscaler: Upscaler) -> None:
    side = upscaler.predictor.min_side - 1
    with pytest.raises(EnhanceError, match=f"at least {side + 1} px"):
        upscaler.upscale(smooth_image(side, 40))


def test_output_that_would_not_fit_in_memory_is_refused(bundle_factory) -> None:
    predictor = Predictor.from_bundle(bundle_factory(scale=2))
    predictor.max_memory = 10 * 2**20
    with pytest.raises(EnhanceError, match=r"2000x2000 px and needs about 0\.\d GiB"):
        predictor.check_size(1000, 1000, "big.png")
    predictor.check_size(100, 100, "small.png")


def test_corrupt_bytes_raise_image_error(upscaler: Upscaler) -> None:
    buffer = io.BytesIO()
    smooth_image(30, 30).save(buffer, format="PNG")
    with pytest.raises(ImageError):
        upscaler.upscale(buffer.getvalue()[:60])


def test_tiled_and_untiled_outputs_match(upscaler: Upscaler) -> None:
    image = smooth_image(70, 90)
    whole = np.asarray(upscaler.upscale(image, tile=512), dtype=int)
    tiled = np.asarray(upscaler.upscale(image, tile=24), dtype=int)
    assert np.abs(whole - tiled).max() <= 1  # 8-bit rounding of values equal within 1e-6


def test_save_round_trips_as_a_zip(upscaler: Upscaler, tmp_path) -> None:
    path = upscaler.save(tmp_path / "copy.sightkit")
    again = Upscaler.load(path)
    image = smooth_image(30, 30)
    assert again.meta["architecture"] == upscaler.meta["architecture"]
    assert np.array_equal(np.asarray(again.upscale(image)), np.asarray(upscaler.upscale(image)))
