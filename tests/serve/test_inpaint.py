"""``POST /v1/enhance/inpaint`` through FastAPI's TestClient, and ``Client.inpaint`` against a real server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sightkit.serve import ServeConfig, create_app

KEY = "inpaint-key-123"
ROUTE = "/v1/enhance/inpaint"


def png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    picture = Image.fromarray(pixels)
    (picture.convert(mode) if mode else picture).save(buffer, "PNG")
    return buffer.getvalue()


def stroke_mask(height: int = 64, width: int = 96) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[28:36, 20:70] = True
    return mask


@pytest.fixture(scope="module")
def client(inpaint_bundle: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServeConfig(inpainter=str(inpaint_bundle), max_inpaint_pixels=20_000))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keyed(inpaint_bundle: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServeConfig(inpainter=str(inpaint_bundle), api_key=KEY))) as test_client:
        yield test_client


def assert_error(response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "request_id"} and words in body["detail"], body
    assert "Traceback" not in response.text and "/tmp/" not in response.text


def post(client: TestClient, image: bytes, mask: bytes | None = None, box: str | None = None, **kwargs):
    files = {"file": ("photo.png", image), **({"mask": ("mask.png", mask)} if mask is not None else {})}
    return client.post(ROUTE, files=files, data={"box": box} if box is not None else {}, **kwargs)


def decode(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_models_lists_the_inpainter_and_its_panel(client: TestClient, inpaint_bundle: Path) -> None:
    models = client.get("/v1/models").json()
    assert models["inpainter"]["name"] == inpaint_bundle.name and models["inpainter"]["kind"] == "l1"
    assert models["panels"] == ["inpaint"] and models["upscaler"] is None
    assert models["limits"]["max_inpaint_pixels"] == 20_000
    assert str(inpaint_bundle) not in str(models)


@pytest.mark.parametrize("mode", [None, "L", "RGBA", "1"])
def test_mask_fills_only_its_pixels(client: TestClient, textured_image: Path, mode: str | None) -> None:
    original = np.asarray(Image.open(textured_image))
    hole = stroke_mask()
    answer = post(client, textured_image.read_bytes(), png(hole.astype(np.uint8) * 255, mode))
    result = decode(answer)
    assert result.shape == original.shape
    assert np.array_equal(result[~hole], original[~hole])
    assert not np.array_equal(result[hole], original[hole])
    assert answer.headers["x-image-size"] == "96x64"
    assert float(answer.headers["x-filled-fraction"]) == pytest.approx(hole.mean(), abs=1e-6)
    assert "x-notes" not in answer.headers


def test_transparent_mask_is_read_by_its_alpha(client: TestClient, textured_image: Path) -> None:
    original = np.asarray(Image.open(textured_image))
    hole = stroke_mask()
    rgba = np.zeros((64, 96, 4), np.uint8)
    rgba[hole] = (255, 0, 0, 255)  # red strokes on a transparent layer
    result = decode(post(client, textured_image.read_bytes(), png(rgba)))
    assert np.array_equal(result[~hole], original[~hole]) and not np.array_equal(result[hole], original[hole])


def test_box_fills_the_rectangle(client: TestClient, textured_image: Path) -> None:
    original = np.asarray(Image.open(textured_image))
    answer = post(client, textured_image.read_bytes(), box="10,5,20,12")
    result = decode(answer)
    hole = np.zeros((64, 96), bool)
    hole[5:17, 10:30] = True
    assert np.array_equal(result[~hole], original[~hole]) and not np.array_equal(result[hole], original[hole])
    assert float(answer.headers["x-filled-fraction"]) == pytest.approx(hole.mean(), abs=1e-6)


def test_mask_and_box_exactly_one(client: TestClient, textured_image: Path) -> None:
    image = textured_image.read_bytes()
    assert_error(post(client, image), 422, "exactly one of mask")
    assert_error(post(client, image, png(stroke_mask().astype(np.uint8) * 255), box="1,1,4,4"), 422,
                 "exactly one of mask")
    for bad in ("1,2,3", "a,b,c,d", "0,0,0,5", "100,0,5,5", "-1,0,5,5"):
        assert_error(post(client, image, box=bad), 422, "box")


def test_bad_masks_answer_clear_errors(client: TestClient, textured_image: Path) -> None:
    image = textured_image.read_bytes()
    assert_error(post(client, image, png(np.full((64, 64), 255, np.uint8))), 422,
                 "the mask is 64x64 px but the image is 96x64")
    assert_error(post(client, image, png(np.full((64, 96), 255, np.uint8))), 422, "covers the whole image")
    assert_error(post(client, image, box="0,0,96,64"), 422, "covers the whole image")
    assert_error(post(client, image, b"not an image at all"), 415, "mask.png: not an image")
    assert_error(post(client, image, b""), 422, "empty")
    assert_error(post(client, png(np.zeros((200, 200, 3), np.uint8)), box="1,1,4,4"), 413, "too large to inpaint")


def test_empty_mask_returns_the_image_unchanged(client: TestClient, textured_image: Path) -> None:
    answer = post(client, textured_image.read_bytes(), png(np.zeros((64, 96), np.uint8)))
    assert np.array_equal(decode(answer), np.asarray(Image.open(textured_image)))
    assert float(answer.headers["x-filled-fraction"]) == 0.0


def test_mask_of_another_size_with_the_same_aspect_is_resized(client: TestClient, textured_image: Path) -> None:
    half = stroke_mask()[::2, ::2]  # 48x32
    answer = post(client, textured_image.read_bytes(), png(half.astype(np.uint8) * 255))
    assert decode(answer).shape == (64, 96, 3)
    assert "resized" in answer.headers["x-notes"]


def test_api_key_required_when_configured(keyed: TestClient, textured_image: Path) -> None:
    image = textured_image.read_bytes()
    assert_error(post(keyed, image, box="1,1,4,4"), 401, "X-API-Key")
    assert_error(post(keyed, image, box="1,1,4,4", headers={"X-API-Key": "wrong-key-000"}), 401, "wrong")
    assert post(keyed, image, box="1,1,4,4", headers={"X-API-Key": KEY}).status_code == 200


def test_route_without_an_inpainter_says_how_to_load_one(textured_image: Path) -> None:
    with TestClient(create_app(ServeConfig())) as bare:
        assert_error(post(bare, textured_image.read_bytes(), box="1,1,4,4"), 404, "--inpainter")


def test_cli_refuses_a_missing_inpainter(cli, tmp_path: Path) -> None:
    code, _, err = cli("serve", "--inpainter", str(tmp_path / "none"))
    assert code == 2 and err.startswith("error: inpainting model") and "no such bundle" in err


# -- the Python client ---------------------------------------------------------------------------
def test_client_inpaint(inpaint_bundle: Path, textured_image: Path, running_app) -> None:
    from sightkit.client import Client
    from sightkit.errors import ConfigError, EnhanceError
    from sightkit.tasks.enhance.inpaint.api import Inpainter

    original = Image.open(textured_image)
    hole = stroke_mask()
    local = np.asarray(Inpainter.load(inpaint_bundle).inpaint(original, hole))
    with running_app(create_app(ServeConfig(inpainter=str(inpaint_bundle), api_key=KEY))) as url, \
            Client(url, api_key=KEY) as api:
        remote = api.inpaint(textured_image, hole)
        assert isinstance(remote, Image.Image) and remote.size == original.size
        assert np.array_equal(np.asarray(remote), local)  # the same model gives the same pixels
        boxed = np.asarray(api.inpaint(original, box=(20, 28, 50, 8)))
        assert np.array_equal(boxed, local)
        with pytest.raises(EnhanceError, match="64x64"):
            api.inpaint(textured_image, np.ones((64, 64), bool))
        with pytest.raises(ConfigError, match="exactly one"):
            api.inpaint(textured_image)
