"""``POST /v1/search`` through FastAPI's TestClient with a small catalogue of generated images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sightkit.serve import ServeConfig, create_app

KEY = "search-key-1234"


@pytest.fixture(scope="module")
def client(catalog: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServeConfig(catalog=catalog, api_key=KEY))) as test_client:
        yield test_client


def test_search_finds_the_uploaded_catalogue_image_first(client: TestClient, catalog: Path) -> None:
    image = (catalog.parent / "catalogue" / "3.png").read_bytes()
    response = client.post("/v1/search", files={"file": ("3.png", image)}, data={"k": "4"}, headers={"X-API-Key": KEY})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["catalogue"] == "shop" and len(body["results"]) == 4
    first = body["results"][0]
    assert Path(first["path"]).name == "3.png" and first["score"] == pytest.approx(1.0, abs=1e-4)
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True) and [hit["rank"] for hit in body["results"]] == [1, 2, 3, 4]
    assert "thumbnail" not in first


def test_thumbnails_come_as_data_uris_and_models_lists_the_catalogue(client: TestClient, catalog: Path) -> None:
    image = (catalog.parent / "catalogue" / "0.png").read_bytes()
    response = client.post("/v1/search", files={"file": ("0.png", image)}, data={"k": "2", "thumbnails": "true"},
                           headers={"X-API-Key": KEY})
    assert response.status_code == 200, response.text
    assert all(hit["thumbnail"].startswith("data:image/jpeg;base64,") for hit in response.json()["results"])
    models = client.get("/v1/models", headers={"X-API-Key": KEY}).json()
    assert models["search"]["images"] == 6 and "search" in models["panels"]


def test_bad_requests_get_clear_errors(client: TestClient) -> None:
    assert client.post("/v1/search", files={"file": ("x.png", b"not an image")}).status_code == 401
    bad = client.post("/v1/search", files={"file": ("x.png", b"not an image")}, headers={"X-API-Key": KEY})
    assert bad.status_code == 415 and "Traceback" not in bad.text
    too_many = client.post("/v1/search", files={"file": ("x.png", b"x")}, data={"k": "0"}, headers={"X-API-Key": KEY})
    assert too_many.status_code == 422


def test_no_catalogue_loaded_is_a_404_that_says_how() -> None:
    with TestClient(create_app(ServeConfig())) as bare:
        response = bare.post("/v1/search", files={"file": ("x.png", b"x")})
    assert response.status_code == 404 and "--catalog" in response.json()["detail"]


def test_the_python_client_gets_the_same_hits(catalog: Path, running_app) -> None:
    from sightkit.client import Client

    with running_app(create_app(ServeConfig(catalog=catalog))) as url:
        hits = Client(url).search(catalog.parent / "catalogue" / "5.png", k=3)
    assert [hit["rank"] for hit in hits] == [1, 2, 3] and Path(hits[0]["path"]).name == "5.png"
