"""The explanation API: targets, input conversion, files written, Classifier.explain, report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from explain_helpers import make_predictor
from PIL import Image

from sightkit.errors import ConfigError, ImageError
from sightkit.explain.api import Explainer, explain_images, summarize


def test_unknown_target_label_lists_the_classes(skcnn_predictor):
    with pytest.raises(ConfigError, match=r"--target 'zebra' is not a class of this model; use 'top' or one of: a, b, c"):
        explain_images(skcnn_predictor, [np.zeros((16, 16), np.uint8)], target="zebra")


def test_images_of_another_size_and_channel_count_are_converted_as_predict_does(skcnn_predictor):
    rgb_large = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 128))
    results = explain_images(skcnn_predictor, [rgb_large, rgba], "gradcam")
    assert [r.map.shape for r in results] == [(16, 16), (16, 16)]


def test_unreadable_image_raises_or_is_reported(skcnn_predictor, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    good = np.zeros((16, 16), np.uint8)
    with pytest.raises(ImageError, match="broken.png"):
        explain_images(skcnn_predictor, [broken, good])
    reported: list[str] = []
    results = explain_images(skcnn_predictor, [broken, good], on_error=reported.append)
    assert len(results) == 1 and "broken.png" in reported[0]


def test_files_are_written_and_summarised(skcnn_predictor, tmp_path):
    images = []
    for i, name in enumerate(["x.png", "sub/x.png"]):
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 16), 50 * i, np.uint8)).save(path)
        images.append(path)
    out = tmp_path / "out"
    results = explain_images(skcnn_predictor, images, "saliency", faithfulness=True, out_dir=out)
    assert results[0].files == {"overlay": "0000-x-saliency.png", "map": "0000-x-saliency.npy"}
    assert results[1].files["overlay"] == "0001-x-saliency.png"  # same stem, kept apart
    np.testing.assert_array_equal(np.load(out / results[1].files["map"]), results[1].map)
    assert Image.open(out / results[0].files["overlay"]).size == results[0].overlay.size
    saved = json.loads((out / "explanations.json").read_text())
    assert saved["summary"] == summarize(results) and saved["images"][0]["label"] == results[0].label
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "deletion" in page


def test_index_page_escapes_text(tmp_path):
    torch.manual_seed(0)
    from sightkit.tasks.classify.model import create_model

    predictor = make_predictor(create_model("skcnn_tiny", 2, 1), classes=("<b>cat</b>", "dog & co"))
    explain_images(predictor, [np.zeros((16, 16), np.uint8)], "saliency", target="<b>cat</b>", out_dir=tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert "<b>cat</b>" not in page and "&lt;b&gt;cat&lt;/b&gt;" in page


def test_onnx_like_predictor_is_refused_with_what_to_do(skcnn_predictor):
    skcnn_predictor.model = lambda batch: torch.zeros(len(batch), 3)
    with pytest.raises(ConfigError, match="ONNX"):
        Explainer(skcnn_predictor)


def test_classifier_explain_one_image_or_many(tiny_bundle, patch_dataset):
    from sightkit import Classifier

    clf = Classifier.load(tiny_bundle)
    image = sorted((patch_dataset / "left").glob("*.png"))[0]
    one = clf.explain(image, method="gradcam")
    assert one.label in clf.classes and one.map.shape == (16, 16) and one.overlay.size[0] == 224
    many = clf.explain([image, Image.open(image)], method="occlusion")
    assert [r.method for r in many] == ["occlusion", "occlusion"]
    np.testing.assert_allclose(many[0].map, many[1].map)
    assert len(clf.explain(str(patch_dataset / "right"))) == 32  # a folder gives a list
    assert one.overlay_png().startswith(b"\x89PNG")


def test_evaluation_report_shows_gradcam_of_the_worst_images(tiny_bundle, patch_dataset, tmp_path):
    from sightkit import Classifier
    from sightkit.tasks.classify import evaluate as evaluate_module

    clf = Classifier.load(tiny_bundle)
    images = sorted((patch_dataset / "left").glob("*.png"))[:4]
    predicted = [p.label for p in clf.predict(images)]
    pairs = [(path, next(c for c in clf.classes if c != label)) for path, label in zip(images, predicted)]
    report = clf.evaluate(pairs, tmp_path)  # every image wrong, so every one is among the worst
    assert report["worst"] and (tmp_path / "worst_gradcam.png").is_file()
    assert "Worst gradcam" in (tmp_path / "report.html").read_text()
    assert evaluate_module.WORST_SHOWN >= len(report["worst"])
