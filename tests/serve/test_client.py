"""sightkit.client.Client against the real app, run by uvicorn in a thread on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from sightkit.client import Client, Enrollment, Explanation, ServiceError
from sightkit.errors import ConfigError, FaceError, GalleryError, ImageError

KEY = "client-test-key"


@pytest.fixture(scope="module")
def server(classifier_bundle: Path, tmp_path_factory: pytest.TempPathFactory, running_app) -> Iterator[str]:
    """The app with a classifier ("demo"), an empty gallery and default-x2, behind an API key; its URL."""
    from sightkit.serve.app import create_app
    from sightkit.serve.config import ServeConfig

    gallery = tmp_path_factory.mktemp("gallery") / "people.db"
    config = ServeConfig(classifiers={"demo": classifier_bundle}, gallery=gallery, upscaler="default-x2",
                         api_key=KEY)
    with running_app(create_app(config)) as url:
        yield url


@pytest.fixture
def api(server: str) -> Iterator[Client]:
    with Client(server, api_key=KEY) as client:
        yield client


# -- service and classify ----------------------------------------------------------------------
def test_health_and_models(api: Client) -> None:
    assert api.health()["status"] == "ok"
    models = api.models()
    assert [c["name"] for c in models["classifiers"]] == ["demo"]
    assert set(models["classifiers"][0]["classes"]) == {"dark", "bright", "stripes"}
    assert models["upscaler"]["scale"] == 2 and models["faces"] is not None


def test_classify_returns_the_local_prediction_type(api: Client, bright_image: Path, classifier_bundle: Path) -> None:
    from sightkit import Classifier
    from sightkit.tasks.classify.predict import Prediction

    local = Classifier.load(classifier_bundle).predict(bright_image, top_k=2)[0]
    remote = api.classify(bright_image, top_k=2)
    assert isinstance(remote, Prediction)
    assert remote.path == str(bright_image) and remote.label == local.label == "bright"
    assert [label for label, _ in remote.topk] == [label for label, _ in local.topk]
    assert remote.score == pytest.approx(local.score, abs=1e-4)
    assert api.classify(bright_image, model="demo").label == "bright"
    local_tta = Classifier.load(classifier_bundle).predict(bright_image, top_k=2, tta=True)[0]
    assert api.classify(bright_image, top_k=2, tta=True).score == pytest.approx(local_tta.score, abs=1e-4)
    assert api.predict([bright_image], tta=True)[0].score == pytest.approx(local_tta.score, abs=1e-4)


@pytest.mark.parametrize("kind", ["bytes", "pil", "array", "file"])
def test_classify_takes_every_image_kind(api: Client, bright_image: Path, kind: str) -> None:
    source = {"bytes": lambda: bright_image.read_bytes(), "pil": lambda: Image.open(bright_image),
              "array": lambda: np.asarray(Image.open(bright_image)), "file": lambda: bright_image.open("rb")}[kind]()
    try:
        assert api.classify(source).label == "bright"
    finally:
        getattr(source, "close", lambda: None)()


def test_predict_keeps_order_and_skips_errors(api: Client, bright_image: Path) -> None:
    dark = np.zeros((12, 12, 3), np.uint8)
    results = api.predict([bright_image, dark, Image.open(bright_image)], top_k=1)
    assert [r.label for r in results] == ["bright", "dark", "bright"]
    assert [len(r.topk) for r in results] == [1, 1, 1] and results[1].path == "<image 1>"
    mixed = api.predict([b"not an image", bright_image], skip_errors=True)
    assert mixed[0].error and mixed[0].label == "unknown" and mixed[1].label == "bright"
    with pytest.raises(ImageError):
        api.predict([b"not an image", bright_image])


def test_explain_gives_an_overlay_png(api: Client, bright_image: Path) -> None:
    explanation = api.explain(bright_image)
    assert isinstance(explanation, Explanation) and explanation.method == "gradcam"
    assert explanation.overlay_png.startswith(b"\x89PNG") and min(explanation.overlay.size) >= 12
    assert explanation.prediction.label == "bright"


def test_unknown_classifier_is_a_config_error(api: Client, bright_image: Path) -> None:
    with pytest.raises(ConfigError, match="nope"):
        api.classify(bright_image, model="nope")


# -- faces -------------------------------------------------------------------------------------
def test_face_verbs_round_trip(api: Client, face_photo: Path) -> None:
    enrollment = api.enroll("eileen", [face_photo])
    assert isinstance(enrollment, Enrollment)
    assert enrollment.name == "eileen" and enrollment.enrolled == 1 and enrollment.embeddings >= 1
    assert [p.name for p in api.people()] == ["eileen"]
    faces = api.identify(face_photo, top_k=1)
    assert len(faces) == 1 and faces[0].name == "eileen" and faces[0].distance is not None
    assert faces[0].distance <= faces[0].threshold and faces[0].matches[0][0] == "eileen"
    box = faces[0].box
    assert 0 <= box.left < box.right <= 512 and 0 <= box.top < box.bottom <= 512
    flipped = Image.open(face_photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    verdict = api.verify(face_photo, flipped)
    assert verdict.same and 0 <= verdict.distance <= verdict.threshold
    assert api.identify(np.full((64, 64, 3), 128, np.uint8)) == []
    assert api.remove("eileen") == enrollment.embeddings
    assert api.people() == []


def test_face_errors(api: Client, face_photo: Path) -> None:
    with pytest.raises(GalleryError, match="nobody"):
        api.remove("nobody")
    with pytest.raises(FaceError):
        api.enroll("blank", [np.full((64, 64, 3), 128, np.uint8)])
    with pytest.raises(FaceError):
        api.verify(face_photo, np.full((64, 64, 3), 128, np.uint8))


# -- enhance -----------------------------------------------------------------------------------
def test_upscale_returns_a_pil_image(api: Client) -> None:
    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 255, (32, 40, 3), dtype=np.uint8))
    assert api.upscale(small).size == (80, 64)


# -- errors ------------------------------------------------------------------------------------
def test_wrong_or_missing_key_is_a_service_error(server: str, bright_image: Path) -> None:
    for key in ("wrong-key-123", None):
        with Client(server, api_key=key) as client:
            assert client.health()["status"] == "ok"  # never needs a key
            with pytest.raises(ServiceError) as info:
                client.classify(bright_image)
            assert info.value.status == 401 and info.value.request_id
            assert "key" in str(info.value).lower()


def test_non_image_is_an_image_error(api: Client, tmp_path: Path) -> None:
    fake = tmp_path / "photo.jpg"
    fake.write_text("just text, whatever the name says")
    with pytest.raises(ImageError) as info:
        api.classify(fake)
    assert info.value.status == 415  # type: ignore[attr-defined]
    with pytest.raises(ImageError, match="missing.png"):
        api.classify(tmp_path / "missing.png")


def test_busy_and_failing_servers_map_to_service_errors() -> None:
    answers = {"/v1/classify": (503, {"Retry-After": "2"}, {"detail": "demo is busy; retry later"}),
               "/v1/models": (500, {}, None), "/v1/faces": (404, {}, {"detail": "the faces task is not loaded"}),
               "/v1/enhance/upscale": (413, {}, {"detail": "the upload is over 20 MB"})}

    def reply(request: httpx.Request) -> httpx.Response:
        status, headers, body = answers[request.url.path]
        if body is None:
            return httpx.Response(status, headers=headers, text="Internal Server Error")
        return httpx.Response(status, headers={**headers, "X-Request-ID": "r1"}, json=body)

    with Client("http://sightkit.test", transport=httpx.MockTransport(reply)) as client:
        with pytest.raises(ServiceError, match="busy") as busy:
            client.classify(b"png")
        assert busy.value.status == 503 and busy.value.retry_after == 2.0 and busy.value.request_id == "r1"
        with pytest.raises(ServiceError, match="Internal Server Error") as failed:
            client.models()
        assert failed.value.status == 500 and failed.value.retry_after is None
        with pytest.raises(ServiceError, match="not loaded"):  # a task not loaded is not an unknown person
            client.people()
        with pytest.raises(ImageError, match="over 20 MB"):
            client.upscale(b"png")


def test_unreachable_server_is_a_service_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with Client(f"http://127.0.0.1:{port}", timeout=2) as client, pytest.raises(ServiceError) as info:
        client.health()
    assert info.value.status is None and "cannot reach" in str(info.value)
