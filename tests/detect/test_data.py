"""Detection data: the three formats agree, format detection, box checks, augmentation keeps boxes on the pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sightkit.errors import DataError
from sightkit.tasks.detect.dataset import load_detection_data
from sightkit.tasks.detect.formats import detect_format
from sightkit.tasks.detect.shapes import SHAPES, write_shapes
from sightkit.tasks.detect.transforms import DetectionDataset


def _voc(root: Path, name: str, size: tuple[int, int], objects: list[tuple[str, tuple, int]]) -> None:
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "JPEGImages").mkdir(exist_ok=True)
    Image.new("RGB", size, "gray").save(root / "JPEGImages" / f"{name}.jpg")
    body = "".join(f"<object><name>{label}</name><difficult>{difficult}</difficult><bndbox><xmin>{b[0]}</xmin>"
                   f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
                   for label, b, difficult in objects)
    (root / "Annotations" / f"{name}.xml").write_text(
        f"<annotation><filename>{name}.png</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
        f"</size>{body}</annotation>")


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo"])
def test_each_format_is_detected_and_reads_the_same_boxes(tmp_path: Path, fmt: str) -> None:
    reference = load_detection_data(write_shapes(tmp_path / "voc", count=6, size=64, fmt="voc", seed=3))
    data = load_detection_data(write_shapes(tmp_path / fmt, count=6, size=64, fmt=fmt, seed=3))
    assert data.format == fmt and data.classes == sorted(SHAPES) == list(SHAPES)
    assert data.problems == [] and len(data.samples) == 6
    for ours, theirs in zip(data.samples, reference.samples):
        assert np.allclose(ours.boxes, theirs.boxes, atol=0.01)
        assert ours.labels.tolist() == theirs.labels.tolist()


def test_empty_folder_and_images_without_annotations_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images and no annotations"):
        detect_format(tmp_path / "empty")
    (tmp_path / "bare").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "bare" / "a.png")
    with pytest.raises(DataError, match="images but no annotations"):
        load_detection_data(tmp_path / "bare")


def test_bad_boxes_are_clipped_or_dropped_and_listed_or_refused_with_strict(tmp_path: Path) -> None:
    _voc(tmp_path, "a", (100, 80), [("car", (11, 11, 50, 40), 0), ("car", (60, 50, 130, 90), 0),
                                   ("car", (20, 20, 19, 30), 0), ("car", (200, 200, 220, 220), 0),
                                   ("person", (5, 5, 30, 30), 1), ("ignore", (40, 40, 60, 60), 0)])
    _voc(tmp_path, "b", (100, 80), [])
    Image.new("RGB", (10, 10)).save(tmp_path / "JPEGImages" / "lonely.jpg")
    data = load_detection_data(tmp_path)
    assert data.classes == ["car", "person"] and data.format == "voc"
    a = data.samples[0]
    assert a.boxes.tolist() == [[10, 10, 50, 40], [59, 49, 100, 80], [4, 4, 30, 30], [39, 39, 60, 60]]
    assert a.ignore.tolist() == [False, False, True, True] and a.labels.tolist() == [0, 0, 1, -1]
    assert len(data.samples[1].boxes) == 0  # a negative image is kept
    text = "\n".join(data.problems)
    assert "crosses the edge of the 100x80 image; clipped" in text
    assert "zero or negative area; dropped" in text and "outside the 100x80 image; dropped" in text
    assert [p.name for p in data.unannotated] == ["lonely.jpg"]
    with pytest.raises(DataError, match=r"3 annotation problems \(--strict\)"):
        load_detection_data(tmp_path, strict=True)
    known = load_detection_data(tmp_path, classes=["person"])
    assert any("class 'car' is not one of the classes (person); dropped" in p for p in known.problems)


def test_missing_image_and_broken_xml_are_listed(tmp_path: Path) -> None:
    _voc(tmp_path, "a", (40, 40), [("car", (1, 1, 20, 20), 0)])
    (tmp_path / "Annotations" / "gone.xml").write_text("<annotation><filename>gone.jpg</filename></annotation>")
    (tmp_path / "Annotations" / "bad.xml").write_text("<annotation>")
    data = load_detection_data(tmp_path)
    assert len(data.samples) == 1
    assert any("gone.jpg was not found" in p for p in data.problems)
    assert any("not valid XML" in p for p in data.problems)


def test_augmentation_moves_boxes_with_the_pixels(tmp_path: Path) -> None:
    """A white square on black: after flips and scale jitter its box still frames white pixels."""
    root = tmp_path / "sq"
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[10:30, 36:60] = 255
    (root / "JPEGImages").mkdir(parents=True)
    Image.fromarray(pixels).save(root / "JPEGImages" / "a.png")
    (root / "Annotations").mkdir()
    (root / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.png</filename><object><name>sq</name><bndbox><xmin>37</xmin><ymin>11</ymin>"
        "<xmax>60</xmax><ymax>30</ymax></bndbox></object></annotation>")
    data = load_detection_data(root)
    dataset = DetectionDataset(data.samples, image_size=64, train=True, scale_range=(0.6, 1.4), color=0.0)
    torch.manual_seed(0)
    for _ in range(20):
        image, target = dataset[0]
        assert target["boxes"].shape == (1, 4)
        x1, y1, x2, y2 = target["boxes"][0].round().int().tolist()
        inside = image[:, y1 + 2:y2 - 2, x1 + 2:x2 - 2]
        assert float(inside.mean()) > 0.9
        ring = image.clone()
        ring[:, max(0, y1 - 2):y2 + 2, max(0, x1 - 2):x2 + 2] = 0
        assert float(ring.max()) < 0.5  # no white pixels outside the box
