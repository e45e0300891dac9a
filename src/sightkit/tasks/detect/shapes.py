"""A generated detection dataset: coloured squares, circles and triangles on textured backgrounds.

It proves that the pipeline learns (the shapes benchmark) and gives the tests data in every
format: :func:`write_shapes` writes Pascal VOC XML (``Annotations/`` + ``JPEGImages/``),
COCO JSON (``annotations.json`` + ``images/``) or YOLO txt (``images/`` + ``labels/`` +
``data.yaml``). Shapes are 15-40% of the image side, may overlap a little, and take random
saturated colours, so colour alone does not tell the class; backgrounds are smoothed noise
with stripes or blobs.

Example:
    >>> root = write_shapes(Path("shapes"), count=200, size=128, fmt="voc")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("circle", "square", "triangle")


@dataclass
class ShapeImage:
    """One generated image with its boxes (pixels, x1 y1 x2 y2) and class names."""

    image: Image.Image
    boxes: list[tuple[int, int, int, int]]
    labels: list[str]


def shape_image(rng: np.random.Generator, size: int = 128, max_objects: int = 4) -> ShapeImage:
    """One ``size`` x ``size`` RGB image with 0 to ``max_objects`` shapes (about 1 in 12 has none).

    Example:
        >>> item = shape_image(np.random.default_rng(0), size=64)
        >>> item.image.size, len(item.boxes) == len(item.labels)
        ((64, 64), True)
    """
    image = _background(rng, size)
    draw = ImageDraw.Draw(image)
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[str] = []
    count = int(rng.integers(0, max_objects + 1)) if rng.random() < 0.08 else int(rng.integers(1, max_objects + 1))
    for _ in range(count * 4):  # tries: skip places that overlap a placed shape by much
        if len(boxes) == count:
            break
        side = int(rng.uniform(0.15, 0.4) * size)
        x, y = int(rng.integers(0, size - side)), int(rng.integers(0, size - side))
        box = (x, y, x + side, y + side)
        if any(_overlap(box, other) > 0.2 for other in boxes):
            continue
        kind = SHAPES[int(rng.integers(len(SHAPES)))]
        colour = tuple(int(c) for c in _saturated(rng))
        if kind == "circle":
            draw.ellipse([x, y, x + side - 1, y + side - 1], fill=colour)
        elif kind == "square":
            draw.rectangle([x, y, x + side - 1, y + side - 1], fill=colour)
        else:
            draw.polygon([(x + side / 2, y), (x, y + side - 1), (x + side - 1, y + side - 1)], fill=colour)
        boxes.append(box)
        labels.append(kind)
    return ShapeImage(image, boxes, labels)


def write_shapes(root: Path, count: int = 200, size: int = 128, fmt: str = "voc", seed: int = 0,
                 max_objects: int = 4) -> Path:
    """Generate ``count`` images and write them with their boxes in ``fmt`` (voc, coco or yolo) under ``root``."""
    rng = np.random.default_rng(seed)
    items = [shape_image(rng, size, max_objects) for _ in range(count)]
    image_dir = root / ("JPEGImages" if fmt == "voc" else "images")
    image_dir.mkdir(parents=True, exist_ok=True)
    names = [f"{i:05d}.png" for i in range(count)]
    for name, item in zip(names, items):
        item.image.save(image_dir / name)
    if fmt == "voc":
        (root / "Annotations").mkdir(exist_ok=True)
        for name, item in zip(names, items):
            (root / "Annotations" / f"{Path(name).stem}.xml").write_text(voc_xml(name, size, size, item))
    elif fmt == "coco":
        (root / "annotations.json").write_text(json.dumps(coco_json(names, size, items)))
    elif fmt == "yolo":
        (root / "labels").mkdir(exist_ok=True)
        for name, item in zip(names, items):
            lines = [f"{SHAPES.index(label)} {(x1 + x2) / 2 / size:.6f} {(y1 + y2) / 2 / size:.6f} "
                     f"{(x2 - x1) / size:.6f} {(y2 - y1) / size:.6f}" for (x1, y1, x2, y2), label
                     in zip(item.boxes, item.labels)]
            (root / "labels" / f"{Path(name).stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        (root / "data.yaml").write_text("names: [" + ", ".join(SHAPES) + "]\n")
    else:
        raise ValueError(f"fmt must be voc, coco or yolo, not {fmt!r}")
    return root


def voc_xml(filename: str, width: int, height: int, item: ShapeImage) -> str:
    """A Pascal VOC annotation (1-based corners: ``xmin = x1 + 1``, ``xmax = x2``)."""
    objects = "".join(
        f"<object><name>{label}</name><difficult>0</difficult><bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for (x1, y1, x2, y2), label in zip(item.boxes, item.labels))
    return (f"<annotation><filename>{filename}</filename><size><width>{width}</width><height>{height}</height>"
            f"<depth>3</depth></size>{objects}</annotation>\n")


def coco_json(names: list[str], size: int, items: list[ShapeImage]) -> dict:
    """A COCO detection document (``bbox`` = x, y, width, height)."""
    images, annotations = [], []
    for image_id, (name, item) in enumerate(zip(names, items), 1):
        images.append({"id": image_id, "file_name": name, "width": size, "height": size})
        for (x1, y1, x2, y2), label in zip(item.boxes, item.labels):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": SHAPES.index(label) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(SHAPES)]}


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    noise = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    image = Image.fromarray(noise).resize((size, size), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    pixels = np.asarray(image, dtype=np.float32) * 0.6 + 50
    if rng.random() < 0.5:  # stripes
        period = int(rng.integers(6, 16))
        stripes = ((np.arange(size)[:, None] + np.arange(size)[None, :]) // period % 2) * 30.0
        pixels += stripes[..., None]
    pixels += rng.normal(0, 8, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _saturated(rng: np.random.Generator) -> np.ndarray:
    colour = rng.uniform(0, 80, 3)
    colour[int(rng.integers(3))] = rng.uniform(180, 255)
    return colour


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / smaller
