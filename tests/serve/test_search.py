"""``POST /v1/search`` through FastAPI's TestClient with a small catalogue of generated images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sightkit.serve import ServeConfig, create_app

KEY = "search-key-1234"


def _blocks(path: Path, seed: int) -> Path:
    blocks = np.random.default_rng(seed).integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.kron(blocks, np.ones((4, 4, 1), dtype=np.uint8))).save(path)
    return path


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue of 6 generated 16 px images indexed with a seeded random skcnn_tiny bundle."""
    import torch

    from sightkit.core.bundle import save_bundle
    from sightkit.tasks.classify.model import create_model
    from sightkit.tasks.search.api import SearchIndex

    root = tmp_path_factory.mktemp("serve-search")
    torch.manual_seed(0)
    meta = {"task": "classify", "architecture": {"name": "skcnn_tiny", "in_chans": 3, "num_classes": 2},
            "classes": ["a", "b"],
            "preprocessing": {"size": 16, "mode": "RGB", "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}}
    bundle = save_bundle(root / "model", create_model("skcnn_tiny", num_classes=2, in_chans=3).state_dict(), meta)
    for i in range(6):
        _blocks(root / "catalogue" / f"{i}.png", seed=i)
    SearchIndex.build(bundle, root / "catalogue", root / "shop.db").close()
    return root / "shop.db"


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
