"""The phone / Raspberry Pi recipe in docs/deploy.md runs as written and gives sightkit's label."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sightkit.deploy.quantize import quantize_bundle
from sightkit.tasks.classify.api import Classifier

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def _device_snippet() -> str:
    section = DOC.read_text().split("## Running the ONNX file on a phone or a Raspberry Pi", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_docs_device_recipe(tiny_bundle: Path, colour_data: Path, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    quantize_bundle(tiny_bundle, tmp_path / "cifar-int8.onnx", calib=colour_data / "train", calib_size=8)
    source = sorted((colour_data / "val" / "red").glob("*.png"))[0]
    Image.open(source).resize((40, 30)).save(tmp_path / "cat.jpg", quality=95)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_device_snippet(), str(DOC), "exec"), namespace)  # noqa: S102 (our own docs)
    expected = Classifier.load(tmp_path / "cifar-int8.onnx").predict([tmp_path / "cat.jpg"])[0]
    assert namespace["classes"][int(namespace["probs"].argmax())] == expected.label == "red"
    assert float(namespace["probs"].max()) == pytest.approx(expected.score, abs=0.05)
    assert np.isclose(namespace["probs"].sum(), 1.0)
