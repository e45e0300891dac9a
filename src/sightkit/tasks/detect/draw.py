"""Draw boxes on images: one colour per class, a label with the score, line width by image size.

Example:
    >>> from sightkit.tasks.detect.predict import Box
    >>> draw_boxes(Image.new("RGB", (64, 64)), [Box("car", 0.9, 4, 4, 40, 30)], ["car"]).size
    (64, 64)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PIL import Image, ImageDraw, ImageFont

# Tableau 10: distinct on photos and for most colour-blind readers.
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
TRUE_COLOUR = (255, 255, 255)


class _BoxLike(Protocol):
    label: str
    x1: float
    y1: float
    x2: float
    y2: float


def class_colour(label: str, classes: Sequence[str]) -> tuple[int, int, int]:
    """The colour of a class: its position in ``classes`` in :data:`PALETTE`."""
    index = classes.index(label) if label in classes else len(classes)
    return PALETTE[index % len(PALETTE)]


def draw_boxes(image: Image.Image, boxes: Sequence[_BoxLike], classes: Sequence[str],
               truth: Sequence[_BoxLike] = (), track_ids: Sequence[int | None] | None = None) -> Image.Image:
    """A copy of ``image`` with ``boxes`` drawn (label and score) and ``truth`` boxes dashed in white."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    width = max(1, round(max(out.size) / 400))
    font = ImageFont.load_default(size=max(10, round(max(out.size) / 60)))
    for box in truth:
        _dashed(draw, (box.x1, box.y1, box.x2, box.y2), TRUE_COLOUR, width)
    for index, box in enumerate(boxes):
        colour = class_colour(box.label, classes)
        draw.rectangle((box.x1, box.y1, box.x2, box.y2), outline=colour, width=width)
        text = box.label + (f" {box.score:.2f}" if hasattr(box, "score") else "")
        if track_ids is not None and track_ids[index] is not None:
            text = f"#{track_ids[index]} {text}"
        left, top, right, bottom = draw.textbbox((box.x1, box.y1), text, font=font)
        lift = bottom - top + 2
        y = box.y1 - lift if box.y1 >= lift else box.y1
        draw.rectangle((left, y, right + 2, y + lift), fill=colour)
        draw.text((box.x1 + 1, y), text, fill=(255, 255, 255), font=font)
    return out


def _dashed(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], colour: tuple[int, int, int],
            width: int, dash: int = 6) -> None:
    x1, y1, x2, y2 = box
    for start, end in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(end[0] - start[0]), abs(end[1] - start[1]))
        steps = max(1, int(length // dash))
        for i in range(0, steps, 2):
            a, b = i / steps, min(1.0, (i + 1) / steps)
            draw.line([(start[0] + (end[0] - start[0]) * a, start[1] + (end[1] - start[1]) * a),
                       (start[0] + (end[0] - start[0]) * b, start[1] + (end[1] - start[1]) * b)],
                      fill=colour, width=width)
