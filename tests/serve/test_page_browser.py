"""The web page of ``sightkit serve`` in a real browser: Debian's headless Chromium driven by Playwright.

A real server (uvicorn in a thread, on a free loopback port) serves the page and the API; the
tests click through the page as a person would. They skip when Playwright or Chromium is missing
(``apt-get install chromium``; ``.ci/run`` installs both).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]
PHONE = {"width": 390, "height": 844}
WORK_MS = 30_000  # how long an answer that runs a model may take on a busy 2-core machine


def _chromium() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from the system (Playwright downloads no browser here)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    executable = _chromium()
    if executable is None:
        pytest.skip("no chromium binary (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server_url(classifier_bundle: Path, inpaint_bundle: Path, detector_bundle: Path,
               tmp_path_factory: pytest.TempPathFactory, running_app) -> Iterator[str]:
    """A running server with a classifier, an empty face gallery, the shipped x2 upscaler, a tiny inpainter and
    a tiny detector."""
    from sightkit.serve.app import create_app
    from sightkit.serve.config import ServeConfig

    gallery = tmp_path_factory.mktemp("gallery") / "people.db"
    config = ServeConfig(classifiers={"patterns": classifier_bundle}, gallery=gallery, upscaler="default-x2",
                         inpainter=str(inpaint_bundle), detector=detector_bundle)
    with running_app(create_app(config)) as url:
        yield url


@pytest.fixture
def page(browser, server_url: str):
    """A fresh tab on the page, with every panel rendered; fails the test on any JavaScript error."""
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(server_url + "/")
    tab.wait_for_selector("#panel-detect")
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_page_lists_a_panel_for_each_loaded_task(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#panel-nav a")).to_have_text(["Classify", "Faces", "Upscale", "Inpaint", "Detect"])
    expect(page.locator("#key-form")).to_be_hidden()  # no key on this server


def test_drop_zone_opens_the_file_chooser_from_the_keyboard(page) -> None:
    # Playwright turns on file-chooser interception without waiting for it: a listener plus one
    # round trip make sure it is on before the first key press (else a real dialog opens unseen).
    page.on("filechooser", lambda chooser: None)
    page.evaluate("0")
    page.focus("#classify-gradcam")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "classify-drop"
    for key in ("Enter", " "):
        with page.expect_file_chooser() as chooser:
            page.keyboard.press(key)
        assert not chooser.value.is_multiple()
        chooser.value.set_files([])  # close it, or Chromium ignores the next one


def test_classify_shows_the_label_and_the_gradcam_heatmap(page, bright_image: Path) -> None:
    from playwright.sync_api import expect

    page.check("#classify-gradcam")
    page.set_input_files("#classify-drop-file", bright_image)
    expect(page.locator("#classify-label")).to_have_text("bright", timeout=WORK_MS)
    expect(page.locator("#classify-topk li")).to_have_count(3)
    heatmap = page.locator("#classify-heatmap")
    expect(heatmap).to_be_visible()
    assert heatmap.evaluate("img => img.complete && img.naturalWidth") > 0

    page.uncheck("#classify-gradcam")  # the toggle hides the overlay without a new request
    expect(heatmap).to_be_hidden()


def test_enrolled_face_is_identified_by_name(page, face_photo: Path) -> None:
    from playwright.sync_api import expect

    page.fill("#enroll-name", "Eileen")
    page.set_input_files("#enroll-files", face_photo)
    page.click("#enroll-submit")
    expect(page.locator("#people-list")).to_contain_text("Eileen", timeout=WORK_MS)

    page.set_input_files("#faces-drop-file", face_photo)
    expect(page.locator("#faces-result")).to_contain_text("Eileen", timeout=WORK_MS)
    expect(page.locator("#faces-canvas")).to_be_visible()


def test_inpaint_fills_the_painted_stroke_and_keeps_the_rest(page, textured_image: Path) -> None:
    import numpy as np
    from PIL import Image
    from playwright.sync_api import expect

    original = np.asarray(Image.open(textured_image))  # 96x64
    page.set_input_files("#inpaint-drop-file", textured_image)
    canvas = page.locator("#inpaint-mask")
    expect(canvas).to_be_visible()
    assert canvas.evaluate("c => [c.width, c.height]") == [96, 64]  # natural size, whatever it is shown at
    page.fill("#inpaint-brush", "16")  # display pixels; the canvas is shown larger than 96 px
    box = canvas.bounding_box()
    scale = box["width"] / 96
    y = box["y"] + 32 * scale  # a horizontal stroke through the middle row, from x=20 to x=70
    page.mouse.move(box["x"] + 20 * scale, y)
    page.mouse.down()
    for x in range(20, 71, 5):
        page.mouse.move(box["x"] + x * scale, y)
    page.mouse.up()
    with page.expect_response("**/v1/enhance/inpaint", timeout=WORK_MS) as answer:
        page.click("#inpaint-fill")
    assert answer.value.status == 200
    after = page.locator("#inpaint-after")
    expect(after).to_be_visible(timeout=WORK_MS)
    expect(page.locator("#inpaint-summary")).to_contain_text("96x64")
    page.wait_for_function("() => document.querySelector('#inpaint-after').naturalWidth === 96")
    pixels = page.evaluate("""() => {  // the shown result, read back through a canvas (an untagged PNG: exact)
        const img = document.querySelector('#inpaint-after');
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const context = canvas.getContext('2d');
        context.drawImage(img, 0, 0);
        return Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data);
    }""")
    result = np.array(pixels, np.uint8).reshape(64, 96, 4)[..., :3]
    assert result.shape == original.shape
    radius = 16 / scale / 2 + 2  # half the brush in image pixels, and a little for anti-aliasing
    band = np.zeros(original.shape[:2], bool)
    band[int(32 - radius):int(np.ceil(32 + radius)) + 1, int(20 - radius):int(np.ceil(70 + radius)) + 1] = True
    assert np.array_equal(result[~band], original[~band])  # untouched outside the stroke
    assert not np.array_equal(result[30:35, 25:65], original[30:35, 25:65])  # filled inside it
    assert page.locator("#inpaint-download").get_attribute("download") == "textured-filled.png"


def test_detect_draws_the_boxes_over_the_photo(page, detect_shapes: Path) -> None:
    from playwright.sync_api import expect

    page.fill("#detect-score", "0")
    page.set_input_files("#detect-drop-file", sorted(detect_shapes.rglob("*.png"))[0])
    expect(page.locator("#detect-summary")).to_contain_text("in 64×64 pixels", timeout=WORK_MS)
    assert page.locator("#detect-boxes li").count() > 0
    assert page.locator("#detect-canvas").evaluate("c => [c.width, c.height]") == [64, 64]


def test_a_rejected_upload_shows_the_server_message(page, server_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    fake = tmp_path / "notes.png"
    fake.write_text("this is text, not a PNG")
    answer = httpx.post(f"{server_url}/v1/classify", files={"file": (fake.name, fake.read_bytes())})
    assert answer.status_code == 415

    page.set_input_files("#classify-drop-file", fake)
    expect(page.locator("#classify-error")).to_have_text(answer.json()["detail"], timeout=WORK_MS)
    expect(page.locator("#classify-result")).to_be_hidden()


def test_phone_sized_screen_has_no_horizontal_scroll(browser, server_url: str, face_photo: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=PHONE)
    try:
        tab = context.new_page()
        tab.goto(server_url + "/")
        tab.wait_for_selector("#panel-detect")
        tab.set_input_files("#faces-drop-file", face_photo)  # a 512 px photo on a 390 px screen
        expect(tab.locator("#faces-canvas")).to_be_visible(timeout=WORK_MS)
        assert tab.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()


def test_a_server_with_a_key_asks_for_it_and_keeps_it_out_of_the_url(browser, classifier_bundle: Path,
                                                                     running_app) -> None:
    from playwright.sync_api import expect

    from sightkit.serve.app import create_app
    from sightkit.serve.config import ServeConfig

    key = "page-test-key-123"
    with running_app(create_app(ServeConfig(classifiers={"patterns": classifier_bundle}, api_key=key))) as url:
        context = browser.new_context()
        try:
            tab = context.new_page()
            tab.goto(url + "/")
            expect(tab.locator("#page-status")).to_contain_text("API key")  # the server's 401 message
            expect(tab.locator("#api-key")).to_be_focused()
            tab.fill("#api-key", key)
            tab.press("#api-key", "Enter")
            expect(tab.locator("#panel-classify")).to_be_visible()
            expect(tab.locator("#key-form")).to_be_hidden()
            assert key not in tab.url
            assert tab.evaluate("sessionStorage.getItem('sightkit-api-key')") == key
        finally:
            context.close()
