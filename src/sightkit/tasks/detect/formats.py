"""Read box annotations in Pascal VOC XML, COCO JSON or YOLO txt, and tell them apart by their files.

Every reader returns the same thing: one :class:`Annotated` image per annotated image, with
boxes in pixels as ``(x1, y1, x2, y2)`` (VOC's 1-based inclusive corners are turned into
0-based edges: ``xmin - 1 .. xmax``), class names, and an ``ignore`` flag per box for
VOC's ``difficult``, COCO's ``iscrowd`` and boxes of a class named ``ignore`` / ``dontcare``
(ignore regions of driving sets): such boxes are not trained on and do not count in mAP.
Problems that do not stop reading (an XML file that does not parse, an annotation whose
image is missing) are returned as messages for :mod:`.dataset` to list.

Layouts recognised by :func:`detect_format`:

- VOC: ``DATA/Annotations/*.xml`` with images in ``DATA/JPEGImages`` (or ``*.xml`` beside the images);
- COCO: ``DATA`` is a ``.json`` file, or a folder holding one (``annotations/*.json`` or ``*.json``)
  with ``images``, ``annotations`` and ``categories``; image paths are relative to the JSON's folder,
  its ``images/`` subfolder or ``DATA``;
- YOLO: ``*.txt`` label files (``class cx cy w h``, 0-1) in ``labels/`` mirroring ``images/``, or beside the
  images, with class names from ``data.yaml`` / ``dataset.yaml`` (``names``), ``classes.txt`` or ``obj.names``.

Example:
    >>> kind = detect_format(Path("street_voc"))  # doctest: +SKIP
    >>> read_annotations(Path("street_voc"), kind).images[0].labels[:2]  # doctest: +SKIP
    ['ignore', 'car']
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from sightkit.core.images import IMAGE_EXTENSIONS, is_image_file, peek
from sightkit.errors import DataError, ImageError

FORMATS = ("voc", "coco", "yolo")
IGNORE_NAMES = frozenset({"ignore", "dontcare"})  # ignore-region classes of driving sets (Apollo, KITTI)
_YOLO_NAME_FILES = ("data.yaml", "dataset.yaml", "classes.txt", "obj.names")


@dataclass
class Annotated:
    """One image and its boxes (pixels, ``x1 y1 x2 y2``), class names and ignore flags."""

    image: Path
    width: int
    height: int
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ignore: list[bool] = field(default_factory=list)


@dataclass
class Parsed:
    """What a reader found: annotated images, class names in the file's order, and problems to list."""

    images: list[Annotated]
    classes: list[str]
    problems: list[str] = field(default_factory=list)
    unannotated: list[Path] = field(default_factory=list)


def detect_format(data: Path) -> str:
    """``voc``, ``coco`` or ``yolo`` from the files under ``data``; :class:`DataError` when none fits.

    Example:
        >>> detect_format(Path("no/such/folder"))
        Traceback (most recent call last):
        sightkit.errors.DataError: DATA no/such/folder: no such file or folder
    """
    if not data.exists():
        raise DataError(f"DATA {data}: no such file or folder")
    if data.is_file():
        if data.suffix.lower() == ".json":
            return "coco"
        raise DataError(f"DATA {data}: give a dataset folder or a COCO .json file")
    if _coco_json(data) is not None:
        return "coco"
    if next(data.rglob("*.xml"), None) is not None:
        return "voc"
    if any(p.name not in _YOLO_NAME_FILES for p in data.rglob("*.txt")):
        return "yolo"
    if not any(is_image_file(p) for p in data.rglob("*")):
        raise DataError(f"DATA {data}: no images and no annotations found")
    raise DataError(f"DATA {data}: images but no annotations; give Pascal VOC .xml files (Annotations/), "
                    "a COCO .json file, or YOLO .txt labels (labels/)")


def read_annotations(data: Path, kind: str) -> Parsed:
    """Read the dataset at ``data`` in format ``kind`` (one of :data:`FORMATS`)."""
    readers = {"voc": _read_voc, "coco": _read_coco, "yolo": _read_yolo}
    if kind not in readers:
        raise DataError(f"annotation format {kind!r}: choose one of {', '.join(FORMATS)}")
    return readers[kind](data)


def _read_voc(data: Path) -> Parsed:
    xml_files = sorted(data.rglob("*.xml"))
    if not xml_files:
        raise DataError(f"DATA {data}: no Pascal VOC .xml files found")
    images_by_stem = _images_by_stem(data)
    parsed = Parsed([], [])
    used: set[Path] = set()
    for xml in xml_files:
        try:
            root = ET.parse(xml).getroot()
        except ET.ParseError as exc:
            parsed.problems.append(f"{xml}: not valid XML ({exc}); skipped")
            continue
        filename = (root.findtext("filename") or "").strip()
        image = _voc_image(xml, filename, images_by_stem)
        if image is None:
            parsed.problems.append(f"{xml}: its image {filename or xml.stem} was not found; skipped")
            continue
        size = _size_of(image, root.findtext("size/width"), root.findtext("size/height"), parsed.problems)
        if size is None:
            continue
        item = Annotated(image, *size)
        for obj in root.iter("object"):
            name = (obj.findtext("name") or "").strip()
            try:
                box = tuple(float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax"))
            except (TypeError, ValueError):
                parsed.problems.append(f"{xml}: an object '{name}' without a numeric bndbox; skipped")
                continue
            x1, y1, x2, y2 = box
            difficult = (obj.findtext("difficult") or "0").strip() in ("1", "true")
            # VOC corners are 1-based pixels; files written 0-based (xmin 0) are read as they are.
            _add(item, (x1 - 1 if x1 >= 1 else x1, y1 - 1 if y1 >= 1 else y1, x2, y2), name, difficult,
                 parsed.classes)
        used.add(image)
        parsed.images.append(item)
    parsed.unannotated = sorted(p for p in set(images_by_stem.values()) if p not in used)
    return parsed


def _voc_image(xml: Path, filename: str, images_by_stem: dict[str, Path]) -> Path | None:
    for folder in (xml.parent, xml.parent.parent / "JPEGImages", xml.parent.parent / "images"):
        if filename and (folder / filename).is_file():
            return folder / filename
    # <filename> often names another extension or folder than the file on disk: match by stem.
    return images_by_stem.get(Path(filename).stem) or images_by_stem.get(xml.stem)


def _read_coco(data: Path) -> Parsed:
    path = data if data.is_file() else _coco_json(data)
    if path is None:
        raise DataError(f"DATA {data}: no COCO .json file (with images, annotations, categories) found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        categories = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
        entries = list(doc["images"])
        annotations = list(doc.get("annotations", []))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a COCO detection file ({type(exc).__name__}: {exc})") from None
    roots = [path.parent, path.parent / "images", path.parent.parent / "images", path.parent.parent]
    if data.is_dir():
        roots.insert(0, data)
    parsed = Parsed([], list(categories.values()))
    by_id: dict[int, Annotated] = {}
    for entry in entries:
        name = str(entry.get("file_name", ""))
        image = next((root / name for root in roots if (root / name).is_file()), None)
        if image is None:
            parsed.problems.append(f"{path}: image {name!r} (id {entry.get('id')}) was not found; skipped")
            continue
        size = _size_of(image, entry.get("width"), entry.get("height"), parsed.problems)
        if size is not None:
            by_id[int(entry["id"])] = Annotated(image, *size)
    for ann in annotations:
        item = by_id.get(int(ann.get("image_id", -1)))
        if item is None:
            continue
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError):
            parsed.problems.append(f"{path}: annotation {ann.get('id')} has no bbox [x, y, w, h]; skipped")
            continue
        name = categories.get(int(ann.get("category_id", -1)), f"category {ann.get('category_id')}")
        _add(item, (x, y, x + w, y + h), name, bool(ann.get("iscrowd", 0)), None)
    parsed.images = list(by_id.values())
    return parsed


def _coco_json(folder: Path) -> Path | None:
    for candidate in sorted(folder.glob("annotations/*.json")) + sorted(folder.glob("*.json")):
        try:
            head = candidate.read_text(encoding="utf-8", errors="replace")[:1_000_000]
        except OSError:
            continue
        if '"annotations"' in head and '"categories"' in head and '"images"' in head:
            return candidate
    return None


def _read_yolo(data: Path) -> Parsed:
    classes = _yolo_names(data)
    images_by_stem = _images_by_stem(data)
    parsed = Parsed([], list(classes))
    used: set[Path] = set()
    for txt in sorted(p for p in data.rglob("*.txt") if p.name not in _YOLO_NAME_FILES):
        image = _yolo_image(data, txt, images_by_stem)
        if image is None:
            parsed.problems.append(f"{txt}: no image of the same name was found; skipped")
            continue
        size = _size_of(image, None, None, parsed.problems)
        if size is None:
            continue
        item = Annotated(image, *size)
        for number, line in enumerate(txt.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            try:
                index, cx, cy, w, h = int(fields[0]), *(float(v) for v in fields[1:5])
            except ValueError:  # a bad number, or fewer than five fields
                parsed.problems.append(f"{txt}:{number}: expected 'class cx cy w h'; skipped")
                continue
            name = classes[index] if 0 <= index < len(classes) else f"class {index}"
            W, H = item.width, item.height
            _add(item, ((cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H), name, False, None)
        used.add(image)
        parsed.images.append(item)
    parsed.unannotated = sorted(p for p in set(images_by_stem.values()) if p not in used)
    return parsed


def _yolo_names(data: Path) -> list[str]:
    for name in _YOLO_NAME_FILES:
        found = next(iter(sorted(data.rglob(name))), None)
        if found is None:
            continue
        if found.suffix == ".yaml":
            import yaml

            try:
                names = (yaml.safe_load(found.read_text(encoding="utf-8")) or {}).get("names")
            except yaml.YAMLError as exc:
                raise DataError(f"{found}: not valid YAML ({exc})") from None
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
            raise DataError(f"{found}: no 'names' list of class names")
        return [line.strip() for line in found.read_text(encoding="utf-8").splitlines() if line.strip()]
    raise DataError(f"DATA {data}: YOLO labels need class names: add data.yaml (names: [...]) or classes.txt")


def _yolo_image(data: Path, txt: Path, images_by_stem: dict[str, Path]) -> Path | None:
    parts = list(txt.relative_to(data).parts)
    candidates = [txt.with_suffix(ext) for ext in sorted(IMAGE_EXTENSIONS)]
    if "labels" in parts:  # labels/train/x.txt -> images/train/x.jpg
        parts[parts.index("labels")] = "images"
        mirrored = data.joinpath(*parts)
        candidates = [mirrored.with_suffix(ext) for ext in sorted(IMAGE_EXTENSIONS)] + candidates
    found = next((c for c in candidates if c.is_file()), None)
    return found or images_by_stem.get(txt.stem)


def _images_by_stem(data: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(data.rglob("*")):
        if is_image_file(path) and path.is_file():
            found.setdefault(path.stem, path)
    return found


def _size_of(image: Path, width: object, height: object, problems: list[str]) -> tuple[int, int] | None:
    """The image's size from its header (the annotation's size is only a claim); ``None`` when unreadable."""
    try:
        actual_w, actual_h, _ = peek(image)
    except ImageError as exc:
        problems.append(f"{exc}; skipped")
        return None
    try:
        claimed = (int(float(width)), int(float(height))) if width is not None and height is not None else None
    except (TypeError, ValueError):
        claimed = None
    if claimed and claimed != (actual_w, actual_h) and claimed != (0, 0):
        problems.append(f"{image}: annotated as {claimed[0]}x{claimed[1]} but the image is {actual_w}x{actual_h}; "
                        "boxes kept in the image's pixels")
    return actual_w, actual_h


def _add(item: Annotated, box: tuple[float, float, float, float], name: str, ignore: bool,
         classes: list[str] | None) -> None:
    item.boxes.append(box)
    item.labels.append(name)
    item.ignore.append(ignore or name.lower() in IGNORE_NAMES)
    if classes is not None and name not in classes and name.lower() not in IGNORE_NAMES:
        classes.append(name)
