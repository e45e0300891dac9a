"""Build the training and held-out image folders of the shipped inpainting models.

Training folders (``runs/inpaint_data/``):

- ``face``: 96x96 face crops from ``lfw_subset`` (the 52 people that ``faces_lfw.py`` does not
  hold back; the aligned photo's central 130 px) and from the 696 ``helen_train`` photos
  that ``faces_landmarks.py`` does not hold back (a square 1.4x the 68 landmarks' box);
- ``general``: T91, the ``street_voc`` driving photos (shorter side 360 px) and 200
  ``plantvillage_small`` leaves.

Held-out folders, never trained on (evaluation of ``benchmarks/inpaint.py``):

- ``face_eval``: one 96x96 face crop per person of ``gt_db`` (50, whole-frame photos, HOG box)
  and of ``att_faces`` (40, grey crops);
- ``general_eval``: Set5 and eight scikit-image photos (astronaut, coffee, chelsea, rocket,
  camera, coins, hubble, immunohistochemistry), which are not in ``../shared``.

    python benchmarks/inpaint_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from _common import SHARED_DATA

OUT = Path(__file__).resolve().parents[1] / "runs" / "inpaint_data"
FACE_SIDE = 96
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "hubble_deep_field",
                  "immunohistochemistry")


def square_crop(image: Image.Image, cx: float, cy: float, side: float, out: int = FACE_SIDE) -> Image.Image:
    """The ``side`` px square centred on (cx, cy), padded with edge pixels where it leaves the image, at ``out`` px."""
    half = side / 2
    box = (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
    pixels = np.asarray(image.convert("RGB"))
    pad = max(0, -box[0], -box[1], box[2] - image.width, box[3] - image.height)
    if pad:
        pixels = np.pad(pixels, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    crop = pixels[box[1] + pad:box[3] + pad, box[0] + pad:box[2] + pad]
    return Image.fromarray(crop).resize((out, out), Image.Resampling.LANCZOS)


def face_training(folder: Path) -> int:
    from faces_landmarks import read_points, training_images
    from faces_lfw import LFW, held_back_people

    held = set(held_back_people())
    count = 0
    for person in sorted(p for p in LFW.iterdir() if p.is_dir() and p.name not in held):
        for path in sorted(person.glob("*.jpg")):
            square_crop(Image.open(path), 125, 125, 130).save(folder / f"lfw_{path.stem}.png")
            count += 1
    helen = SHARED_DATA / "faces" / "helen_train"
    for name in training_images(helen):
        points = read_points((helen / name).with_suffix(".pts"))
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        square_crop(Image.open(helen / name), (x0 + x1) / 2, (y0 + y1) / 2, 1.4 * max(x1 - x0, y1 - y0)).save(
            folder / f"helen_{Path(name).stem}.png")
        count += 1
    return count


def face_eval(folder: Path) -> int:
    from sightkit.tasks.face.detect import detect_faces

    count = 0
    for person in sorted(p for p in (SHARED_DATA / "faces" / "gt_db").iterdir() if p.is_dir()):
        image = Image.open(sorted(person.glob("*.jpg"))[0]).convert("RGB")
        boxes = detect_faces(np.asarray(image), "hog", 1)
        if not boxes:
            continue
        box = max(boxes, key=lambda b: b.area)
        square_crop(image, (box.left + box.right) / 2, (box.top + box.bottom) / 2,
                    1.4 * max(box.right - box.left, box.bottom - box.top)).save(folder / f"gt_db_{person.name}.png")
        count += 1
    att = [p for p in (SHARED_DATA / "faces" / "att_faces").iterdir() if p.is_dir()]
    for person in sorted(att, key=lambda p: int(p.name[1:])):
        image = Image.open(person / "1.pgm")
        square_crop(image, image.width / 2, image.height / 2, image.width).save(folder / f"att_{person.name}.png")
        count += 1
    return count


def general_training(folder: Path) -> int:
    count = 0
    for path in sorted((SHARED_DATA / "sr" / "T91").glob("*.png")):
        Image.open(path).convert("RGB").save(folder / f"t91_{path.stem}.png")
        count += 1
    for path in sorted((SHARED_DATA / "street_voc" / "JPEGImages").glob("*.jpg")):
        image = Image.open(path).convert("RGB")
        factor = 360 / min(image.size)
        image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS).save(
            folder / f"street_{path.stem}.png")
        count += 1
    leaves = sorted((SHARED_DATA / "plantvillage_small").rglob("*.JPG"))
    for index in np.random.default_rng(0).choice(len(leaves), size=200, replace=False):
        Image.open(leaves[index]).convert("RGB").save(folder / f"leaf_{index:04d}.png")
        count += 1
    return count


def general_eval(folder: Path) -> int:
    from skimage import data

    count = 0
    for path in sorted((SHARED_DATA / "sr" / "Set5").glob("*.png")):
        Image.open(path).convert("RGB").save(folder / f"set5_{path.stem}.png")
        count += 1
    for name in SKIMAGE_PHOTOS:
        image = Image.fromarray(getattr(data, name)()).convert("RGB")
        factor = min(1.0, 512 / max(image.size))
        image = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS)
        image.save(folder / f"skimage_{name}.png")
        count += 1
    return count


def main() -> None:
    if not SHARED_DATA.is_dir():
        sys.exit(f"{SHARED_DATA} not found (needs ../shared/data)")
    for name, build in (("face", face_training), ("face_eval", face_eval), ("general", general_training),
                        ("general_eval", general_eval)):
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{folder}: {build(folder)} images", flush=True)


if __name__ == "__main__":
    main()
