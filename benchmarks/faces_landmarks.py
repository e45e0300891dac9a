"""Face box + 5-point landmark error on a held-back fifth of HELEN, against dlib's 68-point predictor.

Data: ``shared/data/faces/helen_train`` (870 HELEN photos cut around one annotated face, long
side <= 400 px, 68 points each in the iBUG 300-W layout). :func:`held_back_images` fixes the
held-back fifth (174 images, seed 0) that landmark / box models trained on this set must
never see; :func:`training_images` is the rest. Photos that hold several annotated faces
(``<photo>_1.jpg``, ``<photo>_2.jpg``, ...) are kept on one side of the split.

Ground truth: sightkit's 5 points are dlib's 5-point layout (outer and inner corner of the
image-right eye, then of the image-left eye, then the nose base), i.e. 68-point indices
45, 42, 36, 39, 33 (:data:`FIVE_FROM_68`). Error of a face: the mean distance of its 5
points to the truth, divided by the distance between the eye centres (mean of points
36-41 and 42-47); also given over the outer eye corners (36-45, the 300-W convention).

Conditions (seeded by ``(seed, index in the held-back list)``): ``clean``; a black box
over 20% / 35% of the face region (the points' box enlarged by 20%, aspect log-uniform in
[1/2, 2], as ``degrade._random_rect`` draws it) and over 20% / 35% of the whole image
(``degrade.degrade(..., "occlusion20")``); the photo shrunk (bicubic, antialiased) so the
eye centres are 16 or 8 px apart, the landmarks mapped back to the original pixels.

Methods, on the same images: dlib's HOG detector + 68-point predictor (5 points taken from
the 68); the same HOG box + dlib's 5-point predictor; sightkit's pipeline as
``sightkit.faces.find`` runs it (``FaceOptions(crops=False)``: CNN fallback, enlarged
copies for small faces, occlusion filling, landmark refinement), and variants: the CLI's
``crops=None`` (decided per image), ``crops=True``, 68 landmarks, upsample 1 where dlib
plain upsamples (images under 200 px), and no occlusion filling. A face counts as found when the box centre of the face nearest the
truth lies inside the points' box. dlib's 68-point model was trained on iBUG 300-W, whose
training part includes HELEN's training photos: its figures here are likely optimistic.

    nice -n 19 python benchmarks/faces_landmarks.py     # 24 min on 2 busy cores (about 16 without sightkit_nofill)
    python benchmarks/faces_landmarks.py --quick --conditions clean,lowres8   # 24 images
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "helen_train"
HELD_BACK_SHARE = 0.2
# dlib's 5-point model: image-right eye outer, inner corner; image-left eye outer, inner; nose base.
FIVE_FROM_68 = (45, 42, 36, 39, 33)
FACE_MARGIN = 0.2  # the face region an occluder is drawn in: the points' box enlarged by this share
OCCLUSIONS = {"face_occlusion20": 0.20, "face_occlusion35": 0.35}
IMAGE_OCCLUSIONS = {"image_occlusion20": "occlusion20", "image_occlusion35": "occlusion35"}
LOWRES = {"lowres16": 16.0, "lowres8": 8.0}  # eye-centre distance after shrinking, px
CONDITIONS = ("clean", *OCCLUSIONS, *IMAGE_OCCLUSIONS, *LOWRES)
# sightkit's pipeline, as sightkit.faces.find runs it (FaceOptions()), and variants of its options;
# "small": upsample once when the image is small, as dlib plain does.
# sightkit.faces.find builds FaceOptions(crops=False); the CLI leaves crops=None (decided per image).
SIGHTKIT: dict[str, dict[str, Any]] = {
    "sightkit": {"crops": False}, "sightkit_auto": {"crops": None}, "sightkit_crops": {"crops": True},
    "sightkit68": {"crops": False, "landmarks": 68}, "sightkit_upsample": {"crops": False, "upsample": "small"},
    "sightkit_nofill": {"crops": False, "fill_occluders": False}}
METHODS = ("dlib68", "dlib5", *SIGHTKIT)
SMALL_IMAGE_PX = 200  # dlib plain upsamples once when the image's shorter side is under this
QUICK_IMAGES = 24


def held_back_images(root: Path = DATA, seed: int = 0) -> list[str]:
    """File names (``*.jpg``) of the held-back fifth of ``root``, sorted; never train on these.

    The photo ids (the name before the last ``_``) are shuffled with ``seed`` and taken
    whole, skipping any that would overshoot, until a fifth of the images (174 of 870) is
    reached, so no photo has faces on both sides.

    Example:
        >>> len(held_back_images())                                   # doctest: +SKIP
        174
    """
    names = sorted(p.name for p in Path(root).glob("*.jpg") if p.with_suffix(".pts").is_file())
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.rsplit("_", 1)[0], []).append(name)
    target = round(HELD_BACK_SHARE * len(names))
    chosen: list[str] = []
    for index in np.random.default_rng(seed).permutation(len(groups)):
        group = groups[sorted(groups)[index]]
        if len(chosen) + len(group) <= target:
            chosen += group
        if len(chosen) == target:
            break
    return sorted(chosen)


def training_images(root: Path = DATA, seed: int = 0) -> list[str]:
    """The other four fifths of ``root`` (file names, sorted): what a model may be trained on."""
    held = set(held_back_images(root, seed))
    return sorted(p.name for p in Path(root).glob("*.jpg") if p.with_suffix(".pts").is_file() and p.name not in held)


def read_points(path: Path) -> np.ndarray:
    """The ``68 x 2`` points of a ``.pts`` file (bare ``x y`` lines, or 300-W's header and braces)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and not parts[0].endswith(":"):
            try:
                rows.append((float(parts[0]), float(parts[1])))
            except ValueError:
                continue
    points = np.array(rows, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"{path}: expected 68 points, found {len(points)}")
    return points


def truth(points68: np.ndarray) -> dict[str, Any]:
    """The 5 points, the points' box and both normalisers of one face."""
    left, top = points68.min(axis=0)
    right, bottom = points68.max(axis=0)
    return {"five": points68[list(FIVE_FROM_68)],
            "box": (left, top, right, bottom),
            "eye_centres": float(np.linalg.norm(points68[36:42].mean(axis=0) - points68[42:48].mean(axis=0))),
            "outer_corners": float(np.linalg.norm(points68[36] - points68[45]))}


def degrade_image(image: Image.Image, gt: dict[str, Any], condition: str, seed: int, index: int
                  ) -> tuple[Image.Image, float]:
    """The image under ``condition`` and the factor from its pixels to the original's."""
    from sightkit.tasks.face.degrade import _black_box, _random_rect, degrade

    if condition == "clean":
        return image, 1.0
    if condition in IMAGE_OCCLUSIONS:
        return degrade(image, IMAGE_OCCLUSIONS[condition], seed, index), 1.0
    if condition in OCCLUSIONS:
        left, top, right, bottom = gt["box"]
        cx, cy = (left + right) / 2, (top + bottom) / 2
        half_w, half_h = (right - left) * (1 + FACE_MARGIN) / 2, (bottom - top) * (1 + FACE_MARGIN) / 2
        x0, y0 = max(0, round(cx - half_w)), max(0, round(cy - half_h))
        x1, y1 = min(image.width, round(cx + half_w)), min(image.height, round(cy + half_h))
        rect = _random_rect((x1 - x0, y1 - y0), OCCLUSIONS[condition], np.random.default_rng((seed, index)))
        return _black_box(image, rect[0] + x0, rect[1] + y0, rect[2] + x0, rect[3] + y0), 1.0
    scale = LOWRES[condition] / gt["eye_centres"]
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC), image.width / size[0]


def to_original(points: np.ndarray, factor: float) -> np.ndarray:
    """Points of an image shrunk by ``1 / factor`` in the original's pixels (pixel centres aligned)."""
    return (points + 0.5) * factor - 0.5


class Methods:
    """Each method: ``rgb -> (list of (box (l, t, r, b), 5 points), what it did)``.

    The sightkit variants share their detections: ``pipeline.detect_faces`` is memoised by
    image content for the current image (same boxes, computed once), so a variant's time is
    its cost beyond the default's.
    """

    def __init__(self) -> None:
        import dlib

        from sightkit.tasks.face import pipeline
        from sightkit.tasks.face.model import LANDMARKS_5, LANDMARKS_68, model_file

        self.hog = dlib.get_frontal_face_detector()
        self.predict68 = dlib.shape_predictor(str(model_file(LANDMARKS_68)))
        self.predict5 = dlib.shape_predictor(str(model_file(LANDMARKS_5)))
        self._detections: dict[tuple, list] = {}
        detect = pipeline.detect_faces

        def memoised(rgb: np.ndarray, detector: str = "hog", upsample: int = 0, fallback: bool = False) -> list:
            pixels = np.ascontiguousarray(rgb)
            key = (hashlib.sha1(pixels.data).hexdigest(), pixels.shape, detector, upsample, fallback)
            if key not in self._detections:
                self._detections[key] = detect(pixels, detector, upsample, fallback)
            return list(self._detections[key])

        pipeline.detect_faces = memoised

    def new_image(self) -> None:
        self._detections.clear()

    def dlib_boxes(self, rgb: np.ndarray) -> list[Any]:
        """dlib's HOG boxes, as a plain user runs it (upsampled once for small images)."""
        return list(self.hog(rgb, upsample_for(rgb)))

    def dlib(self, rgb: np.ndarray, points: int, rects: list[Any]) -> tuple[list, dict]:
        predictor = self.predict68 if points == 68 else self.predict5
        found = []
        for rect in rects:
            shape = np.array([(p.x, p.y) for p in predictor(rgb, rect).parts()], dtype=np.float64)
            five = shape[list(FIVE_FROM_68)] if points == 68 else shape
            found.append(((rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1), five))
        return found, {"source": "hog" if found else "none"}

    def sightkit(self, rgb: np.ndarray, method: str) -> tuple[list, dict]:
        from sightkit.tasks.face.pipeline import FaceOptions, find_faces
        from sightkit.tasks.face.restore import find_occluder, upscale

        options = {**SIGHTKIT[method]}
        if options.get("upsample") == "small":
            options["upsample"] = upsample_for(rgb)
        faces = find_faces(rgb, FaceOptions(**options))
        found = []
        for face in faces:
            five = face.landmarks[list(FIVE_FROM_68)] if len(face.landmarks) == 68 else face.landmarks
            found.append(((face.box.left, face.box.top, face.box.right, face.box.bottom), five.astype(np.float64)))
        work = rgb  # about the image the pipeline looks for an occluder in (it may search enlarged copies)
        if rgb.shape[0] < FaceOptions.upscale_to:
            work = upscale(rgb, FaceOptions.upscale_to / rgb.shape[0])
        return found, {"source": faces[0].box.source if faces else "none",
                       "occluder_found": find_occluder(work) is not None}


def upsample_for(rgb: np.ndarray) -> int:
    """dlib plain's rule: upsample once when the image is small."""
    return 1 if min(rgb.shape[:2]) < SMALL_IMAGE_PX else 0


def score(found: list, gt: dict[str, Any], factor: float) -> dict[str, Any]:
    """Of the faces found, the one nearest the truth: found or not, and its errors."""
    left, top, right, bottom = gt["box"]
    centre = np.array([(left + right) / 2, (top + bottom) / 2])
    best, best_distance = None, math.inf
    for box, five in found:
        box_centre = to_original(np.array([(box[0] + box[2] - 1) / 2, (box[1] + box[3] - 1) / 2]), factor)
        distance = float(np.linalg.norm(box_centre - centre))
        if distance < best_distance:
            best, best_distance, best_centre = (box, five), distance, box_centre
    if best is None or not (left <= best_centre[0] <= right and top <= best_centre[1] <= bottom):
        return {"found": False}
    per_point = np.linalg.norm(to_original(best[1], factor) - gt["five"], axis=1)
    offset = (to_original(best[1], factor) - gt["five"]).mean(axis=0)
    return {"found": True, "error": float(per_point.mean() / gt["eye_centres"]), "offset_px": offset.tolist(),
            "error_outer": float(per_point.mean() / gt["outer_corners"]),
            "per_point": (per_point / gt["eye_centres"]).tolist()}


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Detection rate and error statistics of one method under one condition."""
    errors = np.array([r["error"] for r in records if r["found"]])
    outer = np.array([r["error_outer"] for r in records if r["found"]])
    with_misses = np.array([r["error"] if r["found"] else 1.0 for r in records])
    out: dict[str, Any] = {"images": len(records), "found": int(len(errors)),
                           "detection_rate": round(len(errors) / len(records), 4)}
    if len(errors):
        points = np.array([r["per_point"] for r in records if r["found"]]).mean(axis=0)
        out.update({"nme_mean": round(float(errors.mean()), 4), "nme_median": round(float(np.median(errors)), 4),
                    "under_0.1": round(float((errors < 0.1).mean()), 4),
                    "under_0.2": round(float((errors < 0.2).mean()), 4),
                    "nme_outer_mean": round(float(outer.mean()), 4),
                    "nme_outer_median": round(float(np.median(outer)), 4),
                    "median_offset_px": np.round(np.median([r["offset_px"] for r in records if r["found"]], axis=0),
                                                 2).tolist(),
                    "per_point_mean": dict(zip(("right_eye_outer", "right_eye_inner", "left_eye_outer",
                                                "left_eye_inner", "nose_base"), np.round(points, 4).tolist()))})
    out.update({"miss_as_1_mean": round(float(with_misses.mean()), 4),
                "miss_as_1_under_0.1": round(float((with_misses < 0.1).mean()), 4),
                "miss_as_1_under_0.2": round(float((with_misses < 0.2).mean()), 4)})
    return out


def run_condition(condition: str, names: list[str], root: Path, seed: int, methods: Methods,
                  chosen: tuple[str, ...]) -> dict[str, Any]:
    """Every chosen method on every image under ``condition``: summaries and per-image errors."""
    records: dict[str, list[dict[str, Any]]] = {m: [] for m in chosen}
    seconds = dict.fromkeys(chosen, 0.0)
    sources: dict[str, dict[str, int]] = {m: {} for m in chosen}
    order = sorted(chosen, key=lambda m: m != "sightkit")  # faces.find's options first: two variants reuse its faces
    for index, name in enumerate(names):
        gt = truth(read_points(root / name.replace(".jpg", ".pts")))
        image, factor = degrade_image(Image.open(root / name).convert("RGB"), gt, condition, seed, index)
        rgb = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
        methods.new_image()
        start = time.perf_counter()
        rects = methods.dlib_boxes(rgb) if {"dlib68", "dlib5"} & set(chosen) else []
        hog_seconds = time.perf_counter() - start
        default = None
        for method in order:
            start = time.perf_counter()
            if method in ("dlib68", "dlib5"):
                found, info = methods.dlib(rgb, 68 if method == "dlib68" else 5, rects)
                seconds[method] += hog_seconds  # both are charged the one HOG detection they share
            elif method == "sightkit_auto" and default and default[0]:
                found, info = default  # crops=None differs from crops=False only where no face was found
            elif method == "sightkit_upsample" and default and not upsample_for(rgb):
                found, info = default  # ... and upsample only for small images
            else:
                found, info = methods.sightkit(rgb, method)
                if method == "sightkit":
                    default = (found, info)
            seconds[method] += time.perf_counter() - start
            sources[method][info["source"]] = sources[method].get(info["source"], 0) + 1
            records[method].append({"image": name, "occluder": info.get("occluder_found"), **score(found, gt, factor)})
    result: dict[str, Any] = {}
    for method in chosen:
        result[method] = {**summarise(records[method]), "box_sources": sources[method],
                          "seconds_per_image": round(seconds[method] / len(names), 4),
                          "per_image_error": [round(r["error"], 4) if r["found"] else None for r in records[method]]}
    common = [i for i in range(len(names)) if all(records[m][i]["found"] for m in chosen)]
    result["found_by_all"] = {"images": len(common), "nme_mean": {
        m: round(float(np.mean([records[m][i]["error"] for i in common])), 4) if common else None for m in chosen}}
    if "sightkit" in chosen:
        result["sightkit_by_occluder_found"] = {
            str(flag): summarise([r for r in records["sightkit"] if r["occluder"] == flag]) for flag in (True, False)
            if any(r["occluder"] == flag for r in records["sightkit"])}
    return result


def check_find(names: list[str], root: Path, methods: Methods) -> float | None:
    """Largest landmark difference (px) between ``sightkit.faces.find`` and the "sightkit" method.

    On a few images, clean and shrunk to 8 px between the eyes; ``None`` if they found different faces.
    """
    from sightkit import faces

    worst = 0.0
    for index, name in enumerate(names):
        clean = Image.open(root / name).convert("RGB")
        small, _ = degrade_image(clean, truth(read_points(root / name.replace(".jpg", ".pts"))), "lowres8", 0, index)
        for image in (clean, small):
            rgb = np.ascontiguousarray(np.asarray(image))
            via_find = faces.find(rgb)
            methods.new_image()
            direct, _ = methods.sightkit(rgb, "sightkit")
            if len(via_find) != len(direct):
                return None
            for face, (_, five) in zip(via_find, direct):
                points = np.array(face.landmarks["right_eye"] + face.landmarks["left_eye"] + face.landmarks["nose_tip"])
                worst = max(worst, float(np.abs(points - five).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK_IMAGES} held-back images only")
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help=f"comma-separated, from {', '.join(CONDITIONS)}")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--name", help="results file name: benchmarks/results/NAME.json (default faces_landmarks, "
                                           "tmp/faces_landmarks_quick with --quick)")
    args = parser.parse_args()
    conditions = tuple(c for c in args.conditions.split(",") if c)
    chosen = tuple(m for m in args.methods.split(",") if m)
    unknown = [c for c in conditions if c not in CONDITIONS] + [m for m in chosen if m not in METHODS]
    if unknown or not args.data.is_dir():
        parser.error(f"unknown condition or method {unknown}" if unknown else f"no data folder {args.data}")

    from _common import write_result

    name = args.name or ("tmp/faces_landmarks_quick" if args.quick else "faces_landmarks")
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    git = {"commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip(),
           "face_code_changed_since_commit": subprocess.run(
               ["git", "status", "--short", "src/sightkit/tasks/face", "src/sightkit/faces.py"], cwd=repo,
               capture_output=True, text=True).stdout.split("\n")[:-1]}
    held = held_back_images(args.data, args.seed)
    names = held[:QUICK_IMAGES] if args.quick else held
    methods = Methods()
    started = time.perf_counter()
    result: dict[str, Any] = {
        "data": "shared/data/faces/helen_train", "seed": args.seed, "quick": args.quick, "git": git,
        "split": {"images": len(sorted(args.data.glob("*.jpg"))), "held_back": len(held), "held_back_images": held,
                  "rule": "photo ids shuffled with the seed and taken whole until a fifth of the images; "
                          "benchmarks.faces_landmarks.held_back_images(root, seed)"},
        "measured_images": len(names),
        "protocol": {
            "five_points_from_68": list(FIVE_FROM_68),
            "error": "mean distance of the 5 points to the truth / distance between the eye centres "
                     "(means of 68-point 36-41 and 42-47); *_outer: / distance of outer eye corners 36-45",
            "found": "box centre of the face nearest the truth inside the 68 points' box; misses are left out of "
                     "nme_*, under_*; miss_as_1_* counts a miss as error 1.0",
            "face_occlusion": f"black box of 20%/35% of the points' box enlarged by {FACE_MARGIN:.0%}, aspect "
                              "log-uniform [1/2, 2], rng (seed, index)",
            "image_occlusion": "sightkit.tasks.face.degrade.degrade(image, 'occlusion20'/'occlusion35', seed, index)",
            "lowres": "photo shrunk (bicubic, antialiased) so the eye centres are 16 / 8 px apart; points mapped back",
            "dlib_upsample": f"1 when the image's shorter side is under {SMALL_IMAGE_PX} px, else 0",
            "sightkit": "sightkit.tasks.face.pipeline.find_faces with FaceOptions(crops=False), what "
                        "sightkit.faces.find runs (checked: find_matches_find_faces_max_px); sightkit_auto: crops=None "
                        "(the CLI's default, decided per image); sightkit_crops: crops=True; sightkit68: landmarks=68, "
                        "5 of them taken; sightkit_upsample: upsample=1 where dlib plain upsamples; sightkit_nofill: "
                        "fill_occluders=False. The variants share detections (memoised by image content), so their "
                        "seconds are the cost beyond the first"},
        "conditions": {}}
    if "sightkit" in chosen:
        result["find_matches_find_faces_max_px"] = check_find(names[:3], args.data, methods)
    for condition in conditions:
        start = time.perf_counter()
        result["conditions"][condition] = run_condition(condition, names, args.data, args.seed, methods, chosen)
        result["conditions"][condition]["seconds"] = round(time.perf_counter() - start, 1)
        row = {m: (s.get("detection_rate"), s.get("nme_mean")) for m, s in result["conditions"][condition].items()
               if isinstance(s, dict) and "detection_rate" in s}
        print(condition, row, f"{time.perf_counter() - start:.0f} s", flush=True)
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_result(name, result)


if __name__ == "__main__":
    main()
