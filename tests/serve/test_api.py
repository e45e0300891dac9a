"""The HTTP API through FastAPI's TestClient: every route, every error code, no traces, no paths."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sightkit.serve import ServeConfig, create_app
from sightkit.serve.batching import Overloaded

KEY, ADMIN = "user-key-123", "admin-key-456"


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(classifier_bundle: Path, tmp_path_factory) -> TestClient:
    """Everything loaded, no key (loopback)."""
    config = ServeConfig(classifiers={"patterns": classifier_bundle, "again": classifier_bundle},
                         gallery=tmp_path_factory.mktemp("gallery") / "people.db", upscaler="default-x2",
                         max_upscale_pixels=100_000)
    with TestClient(create_app(config)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keyed(classifier_bundle: Path, tmp_path_factory) -> TestClient:
    """A classifier and a gallery behind an API key and an admin key, with small limits."""
    config = ServeConfig(classifiers={"patterns": classifier_bundle}, gallery=tmp_path_factory.mktemp("g") / "p.db",
                         api_key=KEY, admin_key=ADMIN, max_upload_mb=0.05, max_pixels=10_000)
    with TestClient(create_app(config)) as test_client:
        yield test_client


def assert_error(response, status: int, words: str) -> dict:
    """An error answer: the status, one readable sentence, the request id, no trace."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "request_id"}
    assert words in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text and "/tmp/" not in response.text
    return body


def test_health_and_models(client: TestClient, classifier_bundle: Path) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    models = client.get("/v1/models").json()
    assert [c["name"] for c in models["classifiers"]] == ["patterns", "again"]
    assert models["classifiers"][0]["classes"] == ["bright", "dark", "stripes"]
    assert models["faces"]["people"] == 0 and models["faces"]["calibrated"] is False
    assert models["upscaler"]["scale"] == 2
    assert models["panels"] == ["classify", "faces", "enhance"]
    assert str(classifier_bundle) not in str(models)


def test_classify_top_k_and_model_choice(client: TestClient, bright_image: Path) -> None:
    answer = client.post("/v1/classify", files={"file": ("b.png", bright_image.read_bytes())},
                         data={"top_k": "2", "model": "again"}).json()
    assert answer["model"] == "again" and answer["label"] == "bright" and answer["score"] > 0.5
    assert [row["label"] for row in answer["topk"]][0] == "bright" and len(answer["topk"]) == 2
    assert "explanation" not in answer


def test_classify_with_tta_matches_the_local_tta_prediction(client: TestClient, classifier_bundle: Path) -> None:
    from sightkit import Classifier

    noise = png(np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8))  # no class is sure
    image = {"file": ("n.png", noise)}
    plain = client.post("/v1/classify", files=image, data={"top_k": "3"}).json()
    tta = client.post("/v1/classify", files=image, data={"top_k": "3", "tta": "true"}).json()
    local = Classifier.load(classifier_bundle).predict(io.BytesIO(noise), top_k=3, tta=True)[0]
    assert (plain["tta"], tta["tta"]) == (False, True)
    assert [(row["label"], pytest.approx(row["score"], abs=1e-4)) for row in tta["topk"]] == local.topk
    assert tta["topk"] != plain["topk"]  # the views were scored, not the image alone


def test_classify_with_gradcam_overlay(client: TestClient, bright_image: Path) -> None:
    import base64

    answer = client.post("/v1/classify", files={"file": ("b.png", bright_image.read_bytes())},
                         data={"explain": "gradcam"}).json()
    overlay = Image.open(io.BytesIO(base64.b64decode(answer["explanation"]["overlay_png"])))
    assert overlay.format == "PNG" and min(overlay.size) >= 12
    assert answer["explanation"]["label"] == "bright"


def test_classify_errors(client: TestClient, bright_image: Path) -> None:
    image = {"file": ("b.png", bright_image.read_bytes())}
    assert_error(client.post("/v1/classify", files=image, data={"model": "nope"}), 400, "no classifier named 'nope'")
    assert_error(client.post("/v1/classify", files=image, data={"top_k": "0"}), 422, "top_k")
    assert_error(client.post("/v1/classify", files=image, data={"explain": "magic"}), 422, "explain")
    assert_error(client.post("/v1/classify", data={"top_k": "1"}), 422, "file")
    # Content is sniffed: a text file named .png is refused, a PNG named .txt is read.
    assert_error(client.post("/v1/classify", files={"file": ("x.png", b"just text")}), 415, "not an image")
    renamed = client.post("/v1/classify", files={"file": ("notes.txt", bright_image.read_bytes(), "text/plain")})
    assert renamed.status_code == 200
    assert_error(client.post("/v1/classify", files={"file": ("e.png", b"")}), 422, "empty")


def test_truncated_image_fails_alone(client: TestClient, bright_image: Path) -> None:
    data = png(np.full((64, 64), 200, np.uint8))
    assert_error(client.post("/v1/classify", files={"file": ("cut.png", data[:60])}), 422, "cut.png")


def test_pixel_limit_from_header_before_decoding(keyed: TestClient) -> None:
    # 200x200 = 40,000 px over the 10,000 limit; a PNG of one colour is tiny on the wire.
    answer = keyed.post("/v1/classify", files={"file": ("big.png", png(np.zeros((200, 200), np.uint8)))},
                        headers={"X-API-Key": KEY})
    assert_error(answer, 413, "40,000 pixels")


def test_upload_size_limit(keyed: TestClient) -> None:
    too_big = b"\x89PNG" + b"0" * 60_000
    assert_error(keyed.post("/v1/classify", files={"file": ("b.png", too_big)}, headers={"X-API-Key": KEY}),
                 413, "over the limit")


def test_streamed_upload_without_length_is_cut_at_the_limit(keyed: TestClient) -> None:
    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    answer = keyed.post("/v1/classify", content=chunks(), headers={"X-API-Key": KEY,
                                                                    "Content-Type": "multipart/form-data; boundary=b"})
    assert_error(answer, 413, "over the limit")


def test_api_key_required_and_checked(keyed: TestClient, bright_image: Path) -> None:
    image = {"file": ("b.png", bright_image.read_bytes())}
    assert keyed.get("/healthz").status_code == 200  # health never needs a key
    assert_error(keyed.post("/v1/classify", files=image), 401, "X-API-Key")
    assert_error(keyed.post("/v1/classify", files=image, headers={"X-API-Key": "wrong-key-000"}), 401, "wrong")
    assert keyed.get("/metrics").status_code == 401
    assert keyed.post("/v1/classify", files=image, headers={"X-API-Key": KEY}).status_code == 200
    assert keyed.get("/v1/models", headers={"X-API-Key": ADMIN}).json()["auth"] == {"admin_key": True}


def test_admin_key_guards_enroll_and_delete(keyed: TestClient) -> None:
    photo = {"file": ("e.png", png(np.zeros((40, 40), np.uint8)))}
    assert_error(keyed.post("/v1/faces", files=photo, data={"name": "Eileen"}, headers={"X-API-Key": KEY}),
                 403, "admin key")
    assert_error(keyed.delete("/v1/faces/Eileen", headers={"X-API-Key": KEY}), 403, "admin key")
    assert keyed.get("/v1/faces", headers={"X-API-Key": KEY}).status_code == 200
    assert_error(keyed.delete("/v1/faces/Nobody", headers={"X-API-Key": ADMIN}), 404, "no person named 'Nobody'")


def test_enroll_identify_verify_list_delete(client: TestClient, face_photo: Path) -> None:
    photo = face_photo.read_bytes()
    enrolled = client.post("/v1/faces", files={"file": ("eileen.png", photo)}, data={"name": "Eileen"})
    assert enrolled.status_code == 201 and enrolled.json()["enrolled"] == 1
    found = client.post("/v1/faces/identify", files={"file": ("probe.png", photo)}, data={"top_k": "1"}).json()
    assert [face["name"] for face in found["faces"]] == ["Eileen"]
    assert found["faces"][0]["distance"] < found["threshold"] and len(found["faces"][0]["top"]) == 1
    assert (found["width"], found["height"], found["calibrated"]) == (512, 512, False)
    box = found["faces"][0]["box"]
    assert 0 <= box["left"] < box["right"] <= 512 and 0 <= box["top"] < box["bottom"] <= 512
    same = client.post("/v1/faces/verify", files={"a": ("a.png", photo), "b": ("b.png", photo)}).json()
    assert same["same"] is True and same["distance"] < 0.1
    assert [p["name"] for p in client.get("/v1/faces").json()["people"]] == ["Eileen"]
    removed = client.delete("/v1/faces/Eileen").json()
    assert removed["name"] == "Eileen" and removed["removed_embeddings"] > 0
    assert client.get("/v1/faces").json()["people"] == []


def test_faces_without_a_usable_face(client: TestClient) -> None:
    noise = png(np.random.default_rng(0).integers(0, 255, (120, 120, 3), dtype=np.uint8))
    empty = client.post("/v1/faces/identify", files={"file": ("noise.png", noise)}).json()
    assert empty["faces"] == [] and empty["reason"] == "no face found"
    assert_error(client.post("/v1/faces", files={"file": ("noise.png", noise)}, data={"name": "X"}),
                 422, "noise.png: no face found")
    assert_error(client.post("/v1/faces/verify", files={"a": ("noise.png", noise), "b": ("noise.png", noise)}),
                 422, "no face found")
    assert_error(client.post("/v1/faces/identify", files={"file": ("tiny.png", png(np.zeros((8, 8), np.uint8)))}),
                 422, "too small")


def test_upscale_returns_png(client: TestClient) -> None:
    answer = client.post("/v1/enhance/upscale", files={"file": ("s.png", png(np.full((24, 32, 3), 90, np.uint8)))})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(answer.content)).size == (64, 48)
    assert (answer.headers["x-input-size"], answer.headers["x-output-size"]) == ("32x24", "64x48")
    tiny = client.post("/v1/enhance/upscale", files={"file": ("t.png", png(np.zeros((10, 10, 3), np.uint8)))})
    assert_error(tiny, 422, "at least")
    assert_error(client.post("/v1/enhance/upscale", files={"file": ("big.png", png(np.zeros((400, 400), np.uint8)))}),
                 413, "too large to upscale")


def test_routes_of_tasks_not_loaded(keyed: TestClient, bright_image: Path) -> None:
    answer = keyed.post("/v1/enhance/upscale", files={"file": ("b.png", bright_image.read_bytes())},
                        headers={"X-API-Key": KEY})
    assert_error(answer, 404, "--upscaler")


def test_overloaded_queue_answers_503_with_retry_after(client: TestClient, bright_image: Path, monkeypatch) -> None:
    from sightkit.serve.batching import MicroBatcher

    async def full(self, item):
        raise Overloaded("patterns", 3)

    monkeypatch.setattr(MicroBatcher, "submit", full)
    answer = client.post("/v1/classify", files={"file": ("b.png", bright_image.read_bytes())})
    assert_error(answer, 503, "busy")
    assert answer.headers["retry-after"] == "3"


def test_request_id_echoed_and_metrics(client: TestClient) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert answer.headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["x-request-id"]) == 32
    text = client.get("/metrics").text
    assert 'sightkit_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'sightkit_model_load_seconds{model="patterns",task="classify"}' in text
    assert "sightkit_batch_size_bucket" in text


def test_page_and_security_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": "https://x.example"}).headers
    assert client.get("/openapi.json").json()["paths"]["/v1/classify"]["post"]


def test_cors_only_for_given_origins(classifier_bundle: Path) -> None:
    config = ServeConfig(classifiers={"p": classifier_bundle}, cors_origins=["https://app.example"])
    with TestClient(create_app(config)) as test_client:
        allowed = test_client.get("/healthz", headers={"Origin": "https://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = test_client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_access_log_is_json_without_names_unless_asked(client: TestClient, face_photo: Path, caplog) -> None:
    import json
    import logging

    with caplog.at_level(logging.INFO, logger="sightkit.serve.access"):
        client.post("/v1/faces/identify", files={"file": ("p.png", face_photo.read_bytes())})
    record = json.loads(caplog.records[-1].getMessage())
    assert record["route"] == "/v1/faces/identify" and record["status"] == 200 and "names" not in record
