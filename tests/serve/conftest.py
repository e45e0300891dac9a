"""Serve test fixtures: a tiny trained classifier bundle, images it knows, a real face photo, a tiny inpainter, a search catalogue."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ("dark", "bright", "stripes")


@pytest.fixture(scope="session")
def classifier_bundle(tmp_path_factory: pytest.TempPathFactory, dataset_writer) -> Path:
    """A classify bundle (``skcnn_tiny``, 3 epochs) whose classes are dark, bright and stripes."""
    from sightkit import Classifier

    root = tmp_path_factory.mktemp("serve")
    data = dataset_writer(root / "data", per_class=20, size=12, classes=CLASSES)
    clf = Classifier.train(data, model="skcnn_tiny", out=root / "run", progress=False, status=lambda m: None,
                           epochs=3, batch_size=4, seed=0)
    return clf.path


@pytest.fixture(scope="session")
def bright_image(tmp_path_factory: pytest.TempPathFactory, pattern_maker) -> Path:
    """A fresh 'bright' pattern image (not in the training data) as PNG."""
    path = tmp_path_factory.mktemp("probe") / "bright.png"
    Image.fromarray(pattern_maker("bright", 12, np.random.default_rng(7))).save(path)
    return path


@pytest.fixture(scope="session")
def face_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """512x512 RGB photo with one face (scikit-image's astronaut) as PNG."""
    skimage_data = pytest.importorskip("skimage.data")
    path = tmp_path_factory.mktemp("faces") / "eileen.png"
    Image.fromarray(skimage_data.astronaut()).save(path)
    return path


def tiny_inpaint_bundle(path: Path, width: int = 8) -> Path:
    """An untrained gated inpainter saved as an ``inpaint`` bundle (it fills like OpenCV's Telea)."""
    import torch

    from sightkit.core.bundle import save_bundle
    from sightkit.tasks.enhance.inpaint.model import GatedInpainter

    torch.manual_seed(0)
    model = GatedInpainter(channels=3, width=width)
    meta = {"task": "inpaint", "kind": "l1", "architecture": {"name": "gated", "channels": 3, "width": width},
            "preprocessing": {"color": "rgb", "range": "0-1", "train_patch": 16}}
    return save_bundle(path, model.state_dict(), meta)


@pytest.fixture(scope="session")
def inpaint_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained ``inpaint`` bundle (the shipped ``general`` model may not be installed)."""
    return tiny_inpaint_bundle(tmp_path_factory.mktemp("inpaint") / "inpaint")


@pytest.fixture(scope="session")
def detect_shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight 64x64 generated shape images with YOLO boxes."""
    from sightkit.tasks.detect.shapes import write_shapes

    return write_shapes(tmp_path_factory.mktemp("serve-detect") / "shapes", count=8, size=64, fmt="yolo", seed=2)


@pytest.fixture(scope="session")
def detector_bundle(detect_shapes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector trained for one epoch on :func:`detect_shapes` (boxes, not accuracy, are tested)."""
    from sightkit.tasks.detect.api import Detector

    run = tmp_path_factory.mktemp("serve-detect-run") / "run"
    return Detector.train(detect_shapes, out=run, epochs=1, image_size=64, batch_size=4, val_fraction=0.25,
                          progress=False, status=lambda line: None).bundle


@pytest.fixture(scope="session")
def textured_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 96x64 RGB PNG with a gradient and noise, so that a fill differs from what was there."""
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:64, 0:96]
    base = np.stack([xs * 2.5, ys * 3.5, (xs + ys) * 1.5], axis=-1)
    pixels = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("inpaint-probe") / "textured.png"
    Image.fromarray(pixels).save(path)
    return path


@contextmanager
def _running(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread on a socket bound here (no port race); yields the URL once /healthz answers."""
    import httpx
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start (see the log above)")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="session")
def running_app() -> Callable[..., AbstractContextManager[str]]:
    """``with running_app(create_app(config)) as url:`` a real server on loopback for the block."""
    return _running


def _blocks_image(path: Path, seed: int) -> Path:
    """A 16 x 16 RGB image of random 4 x 4 colour blocks (no two seeds alike)."""
    blocks = np.random.default_rng(seed).integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.kron(blocks, np.ones((4, 4, 1), dtype=np.uint8))).save(path)
    return path


@pytest.fixture(scope="session")
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
        _blocks_image(root / "catalogue" / f"{i}.png", seed=i)
    SearchIndex.build(bundle, root / "catalogue", root / "shop.db").close()
    return root / "shop.db"
