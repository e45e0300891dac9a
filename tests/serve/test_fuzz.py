"""Schemathesis against the app's own /openapi.json: no request, valid or not, gets a 5xx.

The app runs in uvicorn on a thread (its lifespan loads the models, as in production), once
without and once with an API key; every operation gets a few schema-valid and a few
schema-breaking cases (bounded so the file stays well under a minute on 2 cores).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

KEY = "fuzz-test-key-1"
EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 8}
PASSES = [(mode, real) for mode in EXAMPLES for real in (False, True)]


@pytest.fixture(scope="module", params=[None, KEY], ids=["open", "api-key"])
def live(request: pytest.FixtureRequest, classifier_bundle: Path, face_photo: Path, inpaint_bundle: Path,
         tmp_path_factory: pytest.TempPathFactory, running_app) -> Iterator[tuple[str, str | None]]:
    """The app with every task loaded (one person enrolled), and its key; (URL, key)."""
    from sightkit.serve.app import create_app
    from sightkit.serve.config import ServeConfig
    from sightkit.tasks.face.api import FaceGallery

    gallery = tmp_path_factory.mktemp("fuzz") / "people.db"
    with FaceGallery(gallery) as faces:
        faces.enroll("eileen", [face_photo])
    config = ServeConfig(classifiers={"demo": classifier_bundle}, gallery=gallery, upscaler="default-x2",
                         inpainter=str(inpaint_bundle), api_key=request.param, max_upscale_pixels=4096)
    with running_app(create_app(config)) as url:
        yield url, request.param


def test_no_server_errors(live: tuple[str, str | None]) -> None:
    url, key = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"X-API-Key": key} if key else {}
    failures: list[str] = []
    calls = 0
    statuses: dict[str, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/classify", "POST /v1/faces/identify", "POST /v1/faces/verify",
                                                "POST /v1/faces", "GET /v1/faces", "DELETE /v1/faces/{name}",
                                                "POST /v1/enhance/upscale", "POST /v1/enhance/inpaint",
                                                "GET /v1/models", "GET /healthz"}
    for operation in operations:
        for mode, real in PASSES:
            examples = EXAMPLES[mode]
            strategy = operation.as_strategy(mode)
            if real:  # the other fields fuzzed around a real image, so that requests reach the models
                if not _has_upload(operation):
                    continue
                strategy = strategy.map(_with_real_image)

            @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                                 suppress_health_check=list(hypothesis.HealthCheck),
                                 phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
            @hypothesis.given(case=strategy)
            def run(case) -> None:
                nonlocal calls
                calls += 1
                try:
                    response = case.call_and_validate(base_url=url, headers=headers, checks=[not_a_server_error],
                                                      excluded_checks=_other_checks())
                    key = f"{case.method} {case.path} {response.status_code}"
                    statuses[key] = statuses.get(key, 0) + 1
                except Exception as exc:  # noqa: BLE001 (collect every failing request, then report all)
                    failures.append(f"{case.method} {case.formatted_path} ({mode.value}): {exc}\n"
                                    f"  {case.as_curl_command()}")

            try:
                run()
            except hypothesis.errors.Unsatisfiable:  # nothing to break (e.g. GET /healthz has no parameters)
                assert mode is GenerationMode.NEGATIVE, operation.label
    print(f"{calls} requests:", sorted(statuses.items()))
    assert calls >= 2 * len(operations)
    assert statuses.get("GET /v1/models 200"), "the key did not get through: no call was answered"
    assert statuses.get("POST /v1/classify 200") and statuses.get("POST /v1/faces/identify 200") \
        and statuses.get("POST /v1/enhance/inpaint 200"), "no fuzzed request reached a model"
    assert not failures, "\n".join(failures[:10])


def _png(size: int = 40) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(size).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


REAL_IMAGE = _png()
UPLOAD_FIELDS = ("file", "a", "b", "mask")


def _has_upload(operation) -> bool:
    return operation.method.upper() == "POST" and operation.path != "/v1/faces/{name}"


def _with_real_image(case):
    """The upload fields of a multipart case (``file``, ``a``, ``b``, ``mask``; generated as text) set to a real PNG."""
    if isinstance(case.body, dict):
        case.body = {k: (([REAL_IMAGE] * max(1, len(v)) if isinstance(v, list) else REAL_IMAGE)
                         if k in UPLOAD_FIELDS else v) for k, v in case.body.items()}
        if "mask" in case.body:  # inpaint takes a mask or a box: keep the real mask so the model runs
            case.body.pop("box", None)
    return case


def _other_checks() -> list:
    """Every registered check but not_a_server_error: this file is about 5xx only."""
    from schemathesis.checks import CHECKS

    return [check for check in CHECKS.get_all() if check is not not_a_server_error]
