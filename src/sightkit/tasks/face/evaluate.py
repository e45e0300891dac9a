"""Evaluation protocols on a folder-per-person dataset: closed-set and open-set identification,
verification, and the robustness protocol (:mod:`sightkit.tasks.face.degrade`).

Split (seeded): per person, ``enroll`` images form the gallery and the rest are probes;
people with no image left for probing only enroll. For the open set, ``unknown`` people
(a seeded choice) are kept out of the gallery and their probes act as impostors: the
detection-and-identification rate (DIR, rank-1 correct *and* under the threshold) is
reported at the threshold whose false-alarm rate on those impostors is 1%.

Example:
    >>> report = evaluate_dataset("att_faces", "runs/face-eval", enroll=1, degrade=True)  # doctest: +SKIP
    >>> report["rank1"], report["degrade"]["lowres16"]["rank1"]                            # doctest: +SKIP
    (0.997, 0.72)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sightkit.core.images import load_image
from sightkit.data.discover import read_labelled_images
from sightkit.errors import DataError, FaceError, ImageError
from sightkit.tasks.face.calibration import calibrate
from sightkit.tasks.face.degrade import CONDITIONS, degrade
from sightkit.tasks.face.index import PersonIndex
from sightkit.tasks.face.ladder import NATIVE, level_for
from sightkit.tasks.face.occlusion import ranked_matches
from sightkit.tasks.face.pipeline import Face, FaceOptions, as_rgb_array, embed_faces, find_faces
from sightkit.tasks.face.predict import enrollment_views

OPEN_SET_FAR = 0.01
Progress = Callable[[int], None]


@dataclass
class Split:
    """Which images enroll and which probe, and which people the open-set gallery leaves out."""

    enroll: list[int]
    probes: list[int]
    unknown: set[str]


def load_faces(data: str | Path) -> tuple[list[Path], list[str], list[tuple[Path, str]]]:
    """Image paths, person names and skipped files of a folder-per-person dataset."""
    pairs, skipped = read_labelled_images(data)
    if len({name for _, name in pairs}) < 2:
        raise DataError(f"DATA {data}: needs at least two people (one subfolder per person)")
    return [p for p, _ in pairs], [n for _, n in pairs], skipped


def people_folders(data: str | Path) -> dict[str, list[Path]]:
    """Each person's image files in a folder-per-person dataset (``data/<name>/*``), by name.

    Files whose header cannot be read are kept, so that enrolling them reports why they failed.

    Example:
        >>> {name: len(files) for name, files in people_folders("people").items()}   # doctest: +SKIP
        {'ada': 3, 'bob': 2}
    """
    pairs, unreadable = read_labelled_images(data)
    people: dict[str, list[Path]] = {}
    for path, name in pairs:
        people.setdefault(name, []).append(path)
    for path, _ in unreadable:
        owner = next((folder.name for folder in path.parents if folder.name in people), None)
        if owner is not None:
            people[owner].append(path)
    return {name: sorted(files) for name, files in sorted(people.items())}


def split_people(names: Sequence[str], enroll: int, unknown: int, seed: int = 0) -> Split:
    """Seeded split: ``enroll`` images per person enroll, the rest probe; ``unknown`` people left out."""
    if enroll < 1:
        raise DataError("--enroll must be at least 1")
    rng = np.random.default_rng(seed)
    people = sorted(set(names))
    if not 0 <= unknown < len(people):
        raise DataError(f"--unknown must be between 0 and {len(people) - 1} (the dataset has {len(people)} people)")
    enroll_idx, probe_idx = [], []
    for person in people:
        own = [i for i, n in enumerate(names) if n == person]
        order = rng.permutation(len(own))
        enroll_idx += [own[i] for i in order[:enroll]]
        probe_idx += [own[i] for i in order[enroll:]]
    left_out = set(rng.choice(people, size=unknown, replace=False).tolist()) if unknown else set()
    if not probe_idx:
        raise DataError(f"no probe images: every person has at most {enroll} images; lower --enroll")
    return Split(sorted(enroll_idx), sorted(probe_idx), left_out)


def gallery_embeddings(images: Sequence[np.ndarray], names: Sequence[str], options: FaceOptions, ladder: bool,
                       progress: Progress | None = None,
                       chips: dict[str, list[np.ndarray]] | None = None) -> dict[float, tuple[np.ndarray, list[str]]]:
    """Per ladder level, the enrollment descriptors and their owners (images without a face are skipped).

    A ``chips`` dict, when given, receives each person's aligned enrollment chips (what a
    gallery with ``keep_images`` stores), for occlusion-consistent matching in :func:`rank_people`.
    """
    rows: dict[float, tuple[list[np.ndarray], list[str]]] = {}
    for rgb, name in zip(images, names):
        try:
            views = enrollment_views(rgb, options, ladder, name, pick="largest")
        except FaceError:
            views = []
        if views and chips is not None:
            chips.setdefault(name, []).append(views[0][1].chip)
        for level, face in views:
            rows.setdefault(level, ([], []))
            rows[level][0].append(face.embedding)
            rows[level][1].append(name)
        if progress:
            progress(1)
    return {level: (np.stack(vectors), owners) for level, (vectors, owners) in rows.items()}


def probe_faces(images: Sequence[np.ndarray], options: FaceOptions, progress: Progress | None = None) -> list[Face | None]:
    """The largest face of each probe with its descriptor (``None`` where none was found)."""
    faces: list[Face | None] = []
    for rgb in images:
        found = find_faces(rgb, options)
        faces.append(max(found, key=lambda f: f.box.area) if found else None)
        if progress:
            progress(1)
    embed_faces([f for f in faces if f is not None], options)
    return faces


def rank_people(gallery: dict[float, tuple[np.ndarray, list[str]]], faces: Sequence[Face | None], ladder: bool,
                match: str = "nearest", people: set[str] | None = None, chips: dict[str, list[np.ndarray]] | None = None,
                flip: bool = True) -> list[list[tuple[str, float]]]:
    """For each probe face, every gallery person (optionally only ``people``) by distance, nearest first.

    With the enrollment ``chips``, occluded probes are re-ranked by occlusion-consistent matching.
    """
    indexes: dict[float, PersonIndex] = {}
    ranked = []
    for face in faces:
        if face is None:
            ranked.append([])
            continue
        level = level_for(face.size_px) if ladder and level_for(face.size_px) in gallery else NATIVE
        if level not in indexes:
            vectors, owners = gallery[level]
            keep = [i for i, n in enumerate(owners) if people is None or n in people]
            indexes[level] = PersonIndex(vectors[keep], [owners[i] for i in keep], match)
        chips_of = (lambda name: chips.get(name, [])) if chips is not None else None
        ranked.append(ranked_matches(indexes[level], face, len(indexes[level]), chips_of, flip))
    return ranked


def closed_set(ranked: Sequence[list[tuple[str, float]]], truth: Sequence[str]) -> dict[str, float]:
    """Rank-1 and rank-5 identification rates (a probe without a face counts as a miss)."""
    hits = [[name for name, _ in r].index(t) if t in [name for name, _ in r] else None for r, t in zip(ranked, truth)]
    return {"rank1": float(np.mean([h == 0 for h in hits])),
            "rank5": float(np.mean([h is not None and h < 5 for h in hits])),
            "no_face": int(sum(not r for r in ranked)), "probes": len(truth)}


def open_set(ranked: Sequence[list[tuple[str, float]]], truth: Sequence[str], unknown: set[str],
             far: float = OPEN_SET_FAR) -> dict[str, Any]:
    """DIR at a false-alarm rate, with the probes of ``unknown`` people as impostors."""
    best = np.array([r[0][1] if r else np.inf for r in ranked])
    is_unknown = np.array([t in unknown for t in truth])
    correct = np.array([bool(r) and r[0][0] == t for r, t in zip(ranked, truth)])
    impostor = np.sort(best[is_unknown])
    allowed = int(np.floor(far * impostor.size))  # impostor probes that may be accepted
    threshold = float(impostor[allowed] - 1e-9) if allowed < impostor.size else float("inf")
    known = ~is_unknown
    dir_rate = float(np.mean(correct[known] & (best[known] <= threshold)))
    curve = [{"threshold": float(t), "far": float(np.mean(impostor <= t)),
              "dir": float(np.mean(correct[known] & (best[known] <= t)))}
             for t in np.quantile(best[np.isfinite(best)], np.linspace(0, 1, 41))]
    return {"far": far, "threshold": threshold, "dir": dir_rate, "known_probes": int(known.sum()),
            "impostor_probes": int(is_unknown.sum()), "unknown_people": sorted(unknown), "curve": curve}


def verification(ranked: Sequence[list[tuple[str, float]]], truth: Sequence[str]) -> tuple[dict, np.ndarray, np.ndarray]:
    """ROC figures from probe-vs-person distances: own person genuine, every other person impostor."""
    genuine = np.array([d for r, t in zip(ranked, truth) for n, d in r if n == t])
    impostor = np.array([d for r, t in zip(ranked, truth) for n, d in r if n != t])
    return calibrate(genuine, impostor), genuine, impostor


def evaluate_dataset(data: str | Path, out: str | Path, *, enroll: int = 1, unknown: int | None = None,
                     degrade_probes: bool = False, options: FaceOptions | None = None, ladder: bool = True,
                     match: str = "nearest", seed: int = 0, progress: Progress | None = None,
                     frame: bool = False) -> dict[str, Any]:
    """Run every protocol on ``data`` and write ``report.json``, plots and ``report.html`` to ``out``.

    ``frame``: the low-resolution conditions shrink each whole photo until its face is 32 /
    24 / 16 px tall (:func:`face_height` of the clean photo), instead of the photo itself.
    """
    from sightkit.core.report import write_report
    from sightkit.tasks.face.plots import degrade_bars, distance_histogram, open_set_curve, roc_curve

    options = options or FaceOptions()
    paths, names, skipped = load_faces(data)
    people = sorted(set(names))
    n_unknown = round(len(people) / 4) if unknown is None else unknown
    split = split_people(names, enroll, n_unknown, seed)
    images = [read_face_image(p) for p in paths]
    chips: dict[str, list[np.ndarray]] = {}
    gallery = gallery_embeddings([images[i] for i in split.enroll], [names[i] for i in split.enroll], options,
                                 ladder, progress, chips)
    truth = [names[i] for i in split.probes]
    clean = probe_faces([images[i] for i in split.probes], options, progress)
    ranked = rank_people(gallery, clean, ladder, match, chips=chips, flip=options.flip)
    report: dict[str, Any] = {"data": str(data), "people": len(people), "images": len(paths), "enroll_per_person": enroll,
                              "match": match, "ladder": ladder, "seed": seed, **closed_set(ranked, truth)}
    known = set(people) - split.unknown
    report["open_set"] = open_set(rank_people(gallery, clean, ladder, match, known, chips, options.flip), truth,
                                  split.unknown)
    report["dir_at_far_1pct"] = report["open_set"]["dir"]
    ver, genuine, impostor = verification(ranked, truth)
    report["verification"] = ver
    report["eer"] = ver["eer"]
    figures = {"roc": roc_curve(genuine, impostor), "distances": distance_histogram(genuine, impostor, ver["threshold"]),
               "open_set": open_set_curve(report["open_set"]["curve"])}
    if degrade_probes:
        report["degrade"], report["degrade_protocol"] = {}, "frame" if frame else "image"
        heights = {i: face_height(images[i]) if frame else None for i in split.probes}
        for condition in CONDITIONS[1:]:
            probes = [as_rgb_array(degrade(Image.fromarray(images[i]), condition, seed, i, heights[i]))
                      for i in split.probes]
            faces = probe_faces(probes, options, progress)
            report["degrade"][condition] = closed_set(rank_people(gallery, faces, ladder, match, chips=chips,
                                                                  flip=options.flip), truth)
        figures["degrade"] = degrade_bars(report["rank1"], {c: r["rank1"] for c, r in report["degrade"].items()})
    report["options"] = options.to_dict()
    report["skipped"] = [{"path": str(p), "reason": r} for p, r in skipped]
    summary = ["people", "images", "enroll_per_person", "probes", "rank1", "rank5", "dir_at_far_1pct", "eer"]
    report["report_html"] = str(write_report(out, report, figures, f"face evaluation: {Path(data).name}", summary))
    return report


def face_height(rgb: np.ndarray) -> float:
    """The height (px) of the largest face box in a clean photo (HOG enlarged once, then CNN; a third of it if none)."""
    from sightkit.tasks.face.detect import detect_faces

    boxes = detect_faces(rgb, "hog", upsample=1, fallback=True)
    return float(max(boxes, key=lambda b: b.area).height) if boxes else rgb.shape[0] / 3


def read_face_image(path: Path) -> np.ndarray:
    """A dataset image as an RGB array; an unreadable file is a :class:`DataError` naming it."""
    try:
        return as_rgb_array(load_image(path))
    except ImageError as exc:
        raise DataError(str(exc)) from None
