"""A detection dataset read from VOC, COCO or YOLO files, its boxes checked against the images.

Every box is checked: a box partly outside its image is clipped to it, one wholly outside,
one of zero area, one with a non-numeric corner or one of a class the model does not know
(evaluating a bundle on other data) is dropped; each is listed in :attr:`DetectionData.problems`.
With ``strict=True`` any such problem refuses the dataset instead. Images without boxes are
kept as negatives; images without an annotation file are listed and not used.

Class indices are 0-based in :attr:`Sample.labels` (``-1`` for an ignore region of no class);
the models see ``index + 1`` (0 is the background).

Example:
    >>> data = load_detection_data(Path("street_voc"))  # doctest: +SKIP
    >>> data.format, data.classes[:3], len(data.samples)  # doctest: +SKIP
    ('voc', ['bicycle', 'bus', 'car'], 68)
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sightkit.errors import DataError
from sightkit.tasks.detect.formats import Annotated, detect_format, read_annotations

_LISTED = 8  # problems shown in an error message before "... and N more"
_EDGE_TOLERANCE = 0.5  # px; a box past the edge by less (rounding in YOLO's 0-1 numbers) is clipped silently


@dataclass
class Sample:
    """One image: boxes ``N x 4`` (pixels, x1 y1 x2 y2), 0-based class indices, ignore flags."""

    image: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    ignore: np.ndarray


@dataclass
class DetectionData:
    """The images of a dataset with checked boxes, its class names and what was wrong with it."""

    root: Path
    format: str
    classes: list[str]
    samples: list[Sample]
    problems: list[str] = field(default_factory=list)
    unannotated: list[Path] = field(default_factory=list)

    def box_counts(self) -> dict[str, int]:
        """Boxes per class (ignored ones not counted).

        Example:
            >>> data.box_counts()  # doctest: +SKIP
            {'circle': 210, 'square': 198}
        """
        counts: Counter[int] = Counter()
        for sample in self.samples:
            counts.update(int(i) for i in sample.labels[~sample.ignore])
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}

    def describe(self) -> str:
        """One line: format, images, boxes, classes."""
        boxes = sum(self.box_counts().values())
        negatives = sum(1 for s in self.samples if not (~s.ignore).any())
        return (f"{self.format.upper()} dataset {self.root}: {len(self.samples)} images ({negatives} without boxes), "
                f"{boxes} boxes, {len(self.classes)} classes")


def load_detection_data(data: str | Path, *, kind: str = "auto", classes: list[str] | None = None,
                        strict: bool = False) -> DetectionData:
    """Read and check a dataset; ``classes`` fixes the class list (a bundle's), else the data's own is used.

    ``kind``: ``voc``, ``coco``, ``yolo``, or ``auto`` to recognise it from the files.

    Raises :class:`DataError` when nothing usable is found, or on any listed problem with ``strict``.

    Example:
        >>> load_detection_data("shapes/", strict=True).classes  # doctest: +SKIP
        ['circle', 'square', 'triangle']
    """
    root = Path(data)
    kind = detect_format(root) if kind == "auto" else kind
    parsed = read_annotations(root, kind)
    names = list(classes) if classes is not None else (sorted(parsed.classes) if kind == "voc" else parsed.classes)
    if not names:
        raise DataError(f"DATA {root}: no classes found in the {kind.upper()} annotations")
    problems = list(parsed.problems)
    index = {name: i for i, name in enumerate(names)}
    samples = [_checked(item, index, problems) for item in parsed.images]
    if strict and problems:
        shown = "; ".join(problems[:_LISTED])
        more = f"; ... and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
        raise DataError(f"DATA {root}: {len(problems)} annotation problems (--strict): {shown}{more}")
    if not samples:
        raise DataError(f"DATA {root}: no annotated image could be read"
                        + (f" ({problems[0]})" if problems else ""))
    return DetectionData(root, kind, names, samples, problems, parsed.unannotated)


def split_samples(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """A seeded ``(train, validation)`` split; ``fraction`` of the images (at least one) held out.

    Example:
        >>> train, val = split_samples(data.samples, 0.2, seed=0)  # doctest: +SKIP
    """
    if fraction <= 0 or len(samples) < 2:
        return samples, []
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(samples) * fraction))
    return [samples[i] for i in sorted(order[n_val:])], [samples[i] for i in sorted(order[:n_val])]


def _checked(item: Annotated, index: dict[str, int], problems: list[str]) -> Sample:
    boxes, labels, ignore = [], [], []
    for box, name, ignored in zip(item.boxes, item.labels, item.ignore):
        where = f"{item.image.name}: {name} box {_fmt(box)}"
        if name not in index and not ignored:
            problems.append(f"{where}: class '{name}' is not one of the classes ({', '.join(index)}); dropped")
            continue
        if not all(math.isfinite(v) for v in box):
            problems.append(f"{where}: not a number; dropped")
            continue
        x1, y1, x2, y2 = box
        clipped = (max(0.0, x1), max(0.0, y1), min(float(item.width), x2), min(float(item.height), y2))
        if x2 <= x1 or y2 <= y1:
            problems.append(f"{where}: zero or negative area; dropped")
            continue
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            problems.append(f"{where}: outside the {item.width}x{item.height} image; dropped")
            continue
        if max(-x1, -y1, x2 - item.width, y2 - item.height) > _EDGE_TOLERANCE:
            problems.append(f"{where}: crosses the edge of the {item.width}x{item.height} image; clipped")
        boxes.append(clipped)
        labels.append(index.get(name, -1))
        ignore.append(ignored)
    return Sample(item.image, item.width, item.height, np.asarray(boxes, np.float32).reshape(-1, 4),
                  np.asarray(labels, np.int64), np.asarray(ignore, bool))


def _fmt(box: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in box) + ")"
