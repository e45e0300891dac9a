"""``POST /v1/detect`` through FastAPI's TestClient with a tiny trained detector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sightkit.serve import ServeConfig, create_app

KEY = "detect-key-1234"


@pytest.fixture(scope="module")
def client(detector_bundle: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServeConfig(detector=detector_bundle, api_key=KEY))) as test_client:
        yield test_client


def _image(shapes: Path) -> bytes:
    return next(path for path in sorted(shapes.rglob("*.png"))).read_bytes()


def test_detect_answers_boxes_inside_the_image_sorted_by_score(client: TestClient, detect_shapes: Path) -> None:
    response = client.post("/v1/detect", files={"file": ("shapes.png", _image(detect_shapes))}, data={"score": "0"},
                           headers={"X-API-Key": KEY})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (64, 64) and body["boxes"], body
    scores = [box["score"] for box in body["boxes"]]
    assert scores == sorted(scores, reverse=True)
    classes = set(client.get("/v1/models", headers={"X-API-Key": KEY}).json()["detector"]["classes"])
    for box in body["boxes"]:
        assert box["label"] in classes
        assert 0 <= box["x1"] <= box["x2"] <= 64 and 0 <= box["y1"] <= box["y2"] <= 64


def test_a_higher_score_threshold_keeps_fewer_boxes(client: TestClient, detect_shapes: Path) -> None:
    def count(score: str) -> int:
        response = client.post("/v1/detect", files={"file": ("s.png", _image(detect_shapes))}, data={"score": score},
                               headers={"X-API-Key": KEY})
        assert response.status_code == 200, response.text
        return len(response.json()["boxes"])

    assert count("1") < count("0")


def test_bad_requests_get_clear_errors(client: TestClient) -> None:
    assert client.post("/v1/detect", files={"file": ("x.png", b"not an image")}).status_code == 401
    bad = client.post("/v1/detect", files={"file": ("x.png", b"not an image")}, headers={"X-API-Key": KEY})
    assert bad.status_code in (400, 415, 422) and "Traceback" not in bad.text
    out_of_range = client.post("/v1/detect", files={"file": ("x.png", b"x")}, data={"score": "2"},
                               headers={"X-API-Key": KEY})
    assert out_of_range.status_code == 422


def test_no_detector_loaded_is_a_404_that_says_how() -> None:
    with TestClient(create_app(ServeConfig())) as bare:
        response = bare.post("/v1/detect", files={"file": ("x.png", b"x")})
    assert response.status_code == 404 and "--detector" in response.json()["detail"]


def test_the_python_client_gets_the_same_boxes(detector_bundle: Path, detect_shapes: Path, running_app) -> None:
    from sightkit.client import Client

    with running_app(create_app(ServeConfig(detector=detector_bundle))) as url:
        boxes = Client(url).detect(sorted(detect_shapes.rglob("*.png"))[0], score=0)
    assert boxes and {"label", "score", "x1", "y1", "x2", "y2"} <= set(boxes[0])
