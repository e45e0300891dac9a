"""Face verification on LFW (``shared/data/faces/lfw_subset``: 65 people, 1,549 aligned 250x250 photos).

Split: :func:`held_back_people` fixes a held-back fifth of the people (13 of 65, a seeded
choice, seed 0; also :data:`HELD_BACK_PEOPLE`). Learned face components (box, landmark or
descriptor models trained on lfw_subset) must never train on them. The headline figures
are on pairs among these 13 people only; a larger set of pairs among all 65 people is
measured too, which is fair only while no learned component has been trained on
lfw_subset (none had when this was written: dlib's models come from outside).

Pairs (:func:`make_pairs`, seeded): half same-person, half different, none repeated. Same
pairs are drawn round-robin over the people (each person's image pairs in random order, one
per person per round), so each person gives as many as the others until their images run
out; different pairs cycle through every pair of people in random order (one random image
of each), so every person appears about equally often. Which image of a pair comes first
is random too, and so is the order of the pairs (the first N are a random subset). The second image is the probe: it is degraded by the robustness protocol of
``sightkit face evaluate --degrade`` (``degrade(image, condition, seed=0, index)`` with
``index`` the image's position in the sorted list of all 1,549 files, so an image is
degraded the same way in every pair and set, and is described once per condition).

Pipelines, on the same pairs:

* ``plain_dlib``: dlib's HOG detector, 5-point shape predictor and
  ``face_recognition_model_v1`` (``compute_face_descriptor(img, shape)``), images under
  112 px tall enlarged (bicubic) first, the largest box, the whole image when no face is
  found (the step-0 baseline of ``benchmarks/faces.py``, here with dlib's own calls);
* ``sightkit``, ``sightkit_crops``: ``sightkit.tasks.face.api.verify_images(a, b,
  options=FaceOptions() / FaceOptions(crops=True), pick="largest")`` as users get it
  (``sightkit face verify [--crops] --pick largest``): the largest face of each image, and
  when the smaller face is below ~27 px between the eyes, the sharper face's ladder views
  at its level (nearest view; mean over a tiny face's jittered views). It is computed from
  descriptors cached per image and condition; a few pairs per condition are checked
  against ``verify_images`` itself (``verify_check`` in the results);
* ``*_find_compare``: the same faces' plain descriptor distance, as
  ``faces.compare(faces.find(a)[0], faces.find(b)[0])`` gives it (no ladder).

Metrics: accuracy at dlib's fixed threshold 0.6; 10-fold cross-validated accuracy as the LFW
protocol computes it (pairs split into 10 folds, stratified by label, seeded; the threshold
that maximises accuracy on 9 folds is tested on the 10th; mean and sample std over folds);
ROC AUC (scikit-learn). A pair where either image gives no face counts as wrong at every
threshold, and in the AUC it is ranked as wrongly as possible (a same pair below every
other, a different pair above); ``*_found`` figures use only pairs with both faces found.

    cd benchmarks && nice -n 19 python faces_lfw.py               # the full run
    python faces_lfw.py --quick                                    # a small check run
    python faces_lfw.py --pairs 1000 --all-pairs 3000 --conditions clean,lowres24

Other scripts: ``from faces_lfw import held_back_people`` (``benchmarks/`` on ``sys.path``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations, cycle
from pathlib import Path

import numpy as np

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "lfw_subset"
HELD_BACK_SHARE = 0.2
# held_back_people(LFW, seed=0); every run checks that the data still gives these.
HELD_BACK_PEOPLE = ("Abdullah_Gul", "Andre_Agassi", "Atal_Bihari_Vajpayee", "Guillermo_Coria", "Hugh_Grant",
                    "Jackie_Chan", "Joschka_Fischer", "Leonardo_DiCaprio", "Lleyton_Hewitt", "Muhammad_Ali",
                    "Paul_Wolfowitz", "Richard_Armitage", "Tim_Henman")
CONDITIONS = ("clean", "lowres32", "lowres24", "lowres16", "occlusion20", "occlusion35")
DLIB_THRESHOLD = 0.6  # dlib's published threshold for its descriptor (LFW, 99.38%)
FOLDS = 10
DLIB_PUBLISHED = 0.9938
UPSCALE_TO = 112  # px: smaller images are enlarged before detection (as sightkit's FaceOptions.upscale_to)
CHECKS_PER_CONDITION = 1

Key = tuple[int, str]  # (image index, condition)


def people_images(root: Path = LFW) -> dict[str, list[Path]]:
    """Each person's ``*.jpg`` files, sorted, by name."""
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir())
    return {p.name: sorted(p.glob("*.jpg")) for p in folders if any(p.glob("*.jpg"))}


def held_back_people(root: Path = LFW, seed: int = 0) -> list[str]:
    """The held-back fifth of the people of ``root`` (13 of lfw_subset's 65), sorted; never train on them.

    Example:
        >>> held_back_people()[:2]                                    # doctest: +SKIP
        ['Abdullah_Gul', 'Andre_Agassi']
    """
    names = sorted(people_images(root))
    chosen = np.random.default_rng(seed).choice(len(names), size=round(HELD_BACK_SHARE * len(names)), replace=False)
    return sorted(names[i] for i in chosen)


def make_pairs(groups: dict[str, list[int]], count: int, seed: int) -> list[tuple[int, int, bool]]:
    """``count`` distinct ``(first, probe, same)`` pairs of image indices, half same-person, balanced over people."""
    rng = np.random.default_rng(seed)
    names = sorted(groups)
    same_pairs: list[tuple[int, int, bool]] = []
    queues = {n: [tuple(int(i) for i in p) for p in rng.permutation(list(combinations(groups[n], 2)))] for n in names}
    available = sum(len(q) for q in queues.values())
    if available < count // 2:
        raise SystemExit(f"only {available} distinct same-person pairs among {len(names)} people; "
                         f"ask for at most {2 * available} pairs")
    order = [names[i] for i in rng.permutation(len(names))]
    while len(same_pairs) < count // 2:
        for name in order:
            if queues[name] and len(same_pairs) < count // 2:
                same_pairs.append((*queues[name].pop(), True))
    seen: set[frozenset[int]] = set()
    different: list[tuple[int, int, bool]] = []
    couples = list(combinations(names, 2))
    attempts = 0
    for index in cycle(rng.permutation(len(couples))):
        if len(different) == count - count // 2:
            break
        attempts += 1
        if attempts > 100 * count:
            raise SystemExit("could not draw enough distinct different-person pairs")
        a, b = (int(rng.choice(groups[name])) for name in couples[index])
        if frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            different.append((a, b, False))
    pairs = [(b, a, s) if rng.random() < 0.5 else (a, b, s) for a, b, s in same_pairs + different]
    return [pairs[i] for i in rng.permutation(len(pairs))]  # any leading slice is a random subset


def pair_summary(pairs: Sequence[tuple[int, int, bool]], owner: Sequence[str]) -> dict:
    """How many pairs, distinct images and per-person counts a pair set holds."""
    same: dict[str, int] = {}
    appears: dict[str, int] = {}
    for a, b, s in pairs:
        if s:
            same[owner[a]] = same.get(owner[a], 0) + 1
        else:
            for i in (a, b):
                appears[owner[i]] = appears.get(owner[i], 0) + 1
    return {"pairs": len(pairs), "same": sum(s for *_, s in pairs), "different": sum(not s for *_, s in pairs),
            "people": len({owner[i] for a, b, _ in pairs for i in (a, b)}),
            "distinct_images": len({i for a, b, _ in pairs for i in (a, b)}),
            "distinct_probe_images": len({b for _, b, _ in pairs}),
            "same_pairs_per_person": {"min": min(same.values()), "max": max(same.values())},
            "different_pair_appearances_per_person": {"min": min(appears.values()), "max": max(appears.values())}}


# --- metrics ---------------------------------------------------------------------------------

def _correct_found(dist: np.ndarray, same: np.ndarray, threshold: float) -> np.ndarray:
    """Per pair: decided correctly at ``threshold`` (a pair without a distance is never correct)."""
    found = ~np.isnan(dist)
    return found & ((np.where(found, dist, np.inf) <= threshold) == same)


def best_threshold(dist: np.ndarray, same: np.ndarray) -> float:
    """The threshold (midway between two distances) with the highest accuracy on these pairs."""
    found = ~np.isnan(dist)
    d, s = dist[found], same[found]
    if len(d) == 0:
        return DLIB_THRESHOLD
    order = np.argsort(d, kind="stable")
    d, s = d[order], s[order]
    # accepting the first k pairs (k = 0..n) as same: same ones accepted + different ones rejected
    correct = np.concatenate([[0], np.cumsum(s)]) + (np.sum(~s) - np.concatenate([[0], np.cumsum(~s)]))
    k = int(np.argmax(correct))
    edges = np.concatenate([[d[0] - 1e-3], d, [d[-1] + 1e-3]])
    return float((edges[k] + edges[k + 1]) / 2)


def cross_validated(dist: np.ndarray, same: np.ndarray, seed: int = 0) -> dict:
    """LFW-style 10-fold accuracy: threshold from 9 folds, tested on the 10th."""
    rng = np.random.default_rng(seed)
    folds = [np.concatenate(parts) for parts in zip(*(np.array_split(rng.permutation(np.flatnonzero(same == label)),
                                                                      FOLDS) for label in (True, False)))]
    accuracies, thresholds = [], []
    for k, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        threshold = best_threshold(dist[train], same[train])
        thresholds.append(threshold)
        accuracies.append(float(_correct_found(dist[test], same[test], threshold).mean()))
    return {"mean": round(float(np.mean(accuracies)), 4), "std": round(float(np.std(accuracies, ddof=1)), 4),
            "thresholds": [round(t, 4) for t in thresholds]}


def auc(dist: np.ndarray, same: np.ndarray, only_found: bool = False) -> float | None:
    """ROC AUC of ``-distance``; pairs without a distance ranked as wrongly as possible (or left out)."""
    from sklearn.metrics import roc_auc_score

    found = ~np.isnan(dist)
    if only_found:
        dist, same = dist[found], same[found]
        found = found[found]
    if len(set(same.tolist())) < 2:
        return None
    score = -dist
    if not found.all():
        low = np.nanmin(score) - 1 if found.any() else 0.0
        high = np.nanmax(score) + 1 if found.any() else 1.0
        score = np.where(found, score, np.where(same, low, high))
    return round(float(roc_auc_score(same, score)), 4)


def metrics(dist: np.ndarray, same: np.ndarray, seconds: float) -> dict:
    """Every figure of one pipeline on one condition's pairs."""
    found = ~np.isnan(dist)
    return {"pairs": len(dist), "accuracy_at_0.6": round(float(_correct_found(dist, same, DLIB_THRESHOLD).mean()), 4),
            "accuracy_10fold": cross_validated(dist, same), "auc": auc(dist, same),
            "pairs_without_face": int((~found).sum()),
            "accuracy_at_0.6_found": (round(float(_correct_found(dist[found], same[found], DLIB_THRESHOLD).mean()), 4)
                                      if found.any() else None),
            "auc_found": auc(dist, same, only_found=True), "seconds": round(seconds, 1)}


# --- pipelines -------------------------------------------------------------------------------

@dataclass
class _Found:
    """The largest face of one image: descriptors (first row the face's, then its jittered views) and ladder."""

    face: object  # sightkit Face, its chip dropped; kept for the ladder (box, size)
    embeddings: np.ndarray
    size_px: float
    source: str
    faces: int
    ladder: dict[float, np.ndarray] = field(default_factory=dict)


class SightkitPipeline:
    """``verify_images`` of sightkit's public API, with each image described once per condition."""

    def __init__(self, options) -> None:
        self.options = options
        self.faces: dict[Key, _Found | None] = {}

    def describe(self, keys: Sequence[Key], load: Callable[[Key], np.ndarray]) -> None:
        from sightkit.tasks.face.pipeline import embed_faces, find_faces

        todo = []
        for key in dict.fromkeys(keys):
            if key in self.faces:
                continue
            found = find_faces(load(key), self.options)
            if not found:
                self.faces[key] = None
                continue
            face = max(found, key=lambda f: f.box.area)  # one_face(..., pick="largest")
            todo.append((key, face, len(found)))
        for start in range(0, len(todo), 64):
            batch = todo[start:start + 64]
            embed_faces([face for _, face, _ in batch], self.options)
            for key, face, count in batch:
                vectors = face.embeddings()  # the face's, then its jittered views' (before _light drops them)
                self.faces[key] = _Found(_light(face), vectors, face.size_px, face.box.source, count)

    def add_ladder(self, pairs: Sequence[tuple[Key, Key]], load: Callable[[Key], np.ndarray]) -> None:
        """The sharper face's ladder views at every level these pairs compare at (only those levels)."""
        from unittest import mock

        from sightkit.tasks.face import ladder
        from sightkit.tasks.face.pipeline import embed_faces

        needed: dict[Key, set[float]] = {}
        for pair in pairs:
            sharp, level = self._plan(*pair)
            if sharp is not None and level != ladder.NATIVE and level not in self.faces[sharp].ladder:
                needed.setdefault(sharp, set()).add(level)
        for key, levels in needed.items():
            found = self.faces[key]
            # synthetic_views walks ladder.LEVELS; verify_images uses the views of one level and drops the rest.
            with mock.patch.object(ladder, "LEVELS", tuple(sorted(levels))):
                views = ladder.synthetic_views(load(key), found.face, self.options)
            embed_faces([view for _, view in views if view.embedding is None], self.options)
            for level in levels:
                at_level = [view.embedding for at, view in views if at == level]
                found.ladder[level] = np.stack(at_level) if at_level else np.zeros((0, 128), np.float32)

    def _plan(self, a: Key, b: Key) -> tuple[Key | None, float]:
        """(the sharper image, the ladder level) as verify_images chooses them."""
        from sightkit.tasks.face.ladder import level_for

        fa, fb = self.faces[a], self.faces[b]
        if fa is None or fb is None:
            return None, 0.0
        small = min(range(2), key=lambda i: (fa, fb)[i].size_px)
        return (b, a)[small], level_for((fa, fb)[small].size_px)

    def distance(self, a: Key, b: Key) -> float:
        """verify_images' distance (NaN when either image has no face)."""
        sharp, level = self._plan(a, b)
        if sharp is None:
            return float("nan")
        small = self.faces[b if sharp == a else a]
        others = self.faces[sharp].ladder[level] if level else self.faces[sharp].embeddings[:1]
        if len(others) == 0:  # no ladder view found the face again (verify_images then fails)
            return float("nan")
        nearest = np.linalg.norm(small.embeddings[:, None] - others[None], axis=-1).min(axis=1)
        return float(np.mean(nearest))

    def compare_distance(self, a: Key, b: Key) -> float:
        """faces.compare(find(a)[0], find(b)[0]): the plain descriptor distance (NaN without a face)."""
        fa, fb = self.faces[a], self.faces[b]
        if fa is None or fb is None:
            return float("nan")
        return float(np.linalg.norm(fa.embeddings[0] - fb.embeddings[0]))


def _light(face):
    """The face without its chip and refit closure (they hold image data; the ladder needs box and size only)."""
    face.chip, face.hidden, face.refit, face.views = None, None, None, []
    return face


class PlainDlib:
    """dlib's own HOG detector, 5-point predictor and ResNet descriptor, as a user would call them."""

    def __init__(self) -> None:
        import dlib

        from sightkit.tasks.face.model import LANDMARKS_5, RESNET, model_file  # find_spec-based file lookup

        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(model_file(LANDMARKS_5)))
        self.net = dlib.face_recognition_model_v1(str(model_file(RESNET)))
        self.faces: dict[Key, tuple[np.ndarray, str]] = {}

    def describe(self, keys: Sequence[Key], load: Callable[[Key], np.ndarray]) -> None:
        from PIL import Image

        for key in dict.fromkeys(keys):
            if key in self.faces:
                continue
            rgb = load(key)
            if rgb.shape[0] < UPSCALE_TO:
                size = (round(rgb.shape[1] * UPSCALE_TO / rgb.shape[0]), UPSCALE_TO)
                rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))
            boxes = list(self.detector(rgb, 0))
            box = max(boxes, key=lambda r: r.area()) if boxes else self.dlib.rectangle(0, 0, rgb.shape[1] - 1,
                                                                                       rgb.shape[0] - 1)
            shape = self.predictor(rgb, box)
            vector = np.asarray(self.net.compute_face_descriptor(rgb, shape), dtype=np.float32)
            self.faces[key] = (vector, "hog" if boxes else "whole")

    def distance(self, a: Key, b: Key) -> float:
        return float(np.linalg.norm(self.faces[a][0] - self.faces[b][0]))


# --- the run ---------------------------------------------------------------------------------

def _sources(table: dict[Key, object], keys: Sequence[Key]) -> dict[str, int]:
    """How the face of each of ``keys`` was found (detector, 'whole', or 'none')."""
    counts: dict[str, int] = {}
    for key in dict.fromkeys(keys):
        entry = table[key]
        source = "none" if entry is None else entry.source if isinstance(entry, _Found) else entry[1]
        counts[source] = counts.get(source, 0) + 1
    return dict(sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=LFW)
    parser.add_argument("--pairs", type=int, default=1000, help="pairs among the held-back people")
    parser.add_argument("--all-pairs", type=int, default=3000, help="pairs among all people (0: none)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="probe conditions (held-back pairs)")
    parser.add_argument("--all-conditions", default="clean", help="probe conditions of the all-people pairs")
    parser.add_argument("--ladder-pairs", type=int, default=100,
                        help="low-resolution conditions: verify_images (ladder views, ~1 s per image and level) "
                             "is measured on the first N pairs only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="100 + 100 pairs, clean/lowres24/occlusion35")
    parser.add_argument("--note", default="", help="a note stored in the results (e.g. which code was measured)")
    parser.add_argument("--out", default="faces_lfw", help="results name (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} not found (needs ../shared/data)")
    if args.quick:
        args.pairs, args.all_pairs, args.conditions, args.ladder_pairs = 100, 100, "clean,lowres24,occlusion35", 30
        args.out = "tmp/faces_lfw_quick" if args.out == "faces_lfw" else args.out
    conditions = [c for c in args.conditions.split(",") if c]
    all_conditions = [c for c in args.all_conditions.split(",") if c]
    unknown = set(conditions + all_conditions) - set(CONDITIONS)
    if unknown:
        raise SystemExit(f"unknown condition(s) {sorted(unknown)}; choose from {', '.join(CONDITIONS)}")
    start = time.perf_counter()
    code = _code(args.note)  # at the start: the shared tree may change while this runs

    import torch
    from PIL import Image

    from sightkit.core.images import load_image
    from sightkit.tasks.face.degrade import degrade
    from sightkit.tasks.face.pipeline import FaceOptions, as_rgb_array

    torch.manual_seed(args.seed)
    people = people_images(args.data)
    paths = [p for name in sorted(people) for p in people[name]]
    owner = [p.parent.name for p in paths]
    held_back = held_back_people(args.data, args.seed)
    if args.seed == 0 and args.data == LFW and HELD_BACK_PEOPLE and tuple(held_back) != HELD_BACK_PEOPLE:
        raise SystemExit(f"held_back_people() no longer gives HELD_BACK_PEOPLE: {held_back}")
    groups = {name: [i for i, o in enumerate(owner) if o == name] for name in people}
    sets = {"held_back": (make_pairs({n: groups[n] for n in held_back}, args.pairs, args.seed), conditions)}
    if args.all_pairs:
        sets["all_people"] = (make_pairs(groups, args.all_pairs, args.seed), all_conditions)

    cache: dict[int, Image.Image] = {}

    def load(key: Key) -> np.ndarray:
        index, condition = key
        if index not in cache:
            cache[index] = load_image(paths[index]).convert("RGB")
        return as_rgb_array(degrade(cache[index], condition, args.seed, index))

    default = SightkitPipeline(FaceOptions())
    crops = SightkitPipeline(FaceOptions(crops=True))
    dlib_plain = PlainDlib()
    result: dict = {"data": str(args.data), "people": len(people), "images": len(paths),
                    "split": {"held_back_people": held_back, "held_back_share": HELD_BACK_SHARE, "seed": args.seed,
                              "rule": "np.random.default_rng(seed).choice of round(0.2 * 65) of the sorted names; "
                                      "learned components must never train on these people",
                              "held_back_images": sum(len(groups[n]) for n in held_back)},
                    "protocol": {"threshold": DLIB_THRESHOLD, "folds": FOLDS, "probe": "second image of each pair",
                                 "degrade": "degrade(image, condition, seed, index of the image among all files)",
                                 "no_face": "pair counted wrong at every threshold; in the AUC ranked as wrongly "
                                            "as possible; *_found figures use only pairs with both faces"},
                    "dlib_published_lfw": DLIB_PUBLISHED, "sets": {}}
    check_rng = np.random.default_rng(args.seed + 1)
    checks = []
    for set_name, (pairs, set_conditions) in sets.items():
        same = np.array([s for *_, s in pairs])
        out = {"pairs": pair_summary(pairs, owner), "conditions": {}}
        for condition in set_conditions:
            keyed = [((a, "clean"), (b, condition)) for a, b, _ in pairs]
            ladder_pairs = args.ladder_pairs if condition.startswith("lowres") else len(keyed)
            row = _measure(keyed, same, ladder_pairs, load, dlib_plain, default, crops)
            out["conditions"][condition] = row
            print(set_name, condition, {k: (v["pairs"], v["accuracy_at_0.6"], v["accuracy_10fold"]["mean"], v["auc"])
                                        for k, v in row.items()}, flush=True)
            if set_name == "held_back":
                for i in check_rng.choice(min(ladder_pairs, len(keyed)), size=CHECKS_PER_CONDITION, replace=False):
                    checks += _check(keyed[int(i)], load, default, crops)
        first_keys = list(dict.fromkeys((a, "clean") for a, _, _ in pairs))
        out["first_images"] = {name: _sources(pipe.faces, first_keys)
                               for name, pipe in (("plain_dlib", dlib_plain), ("sightkit", default),
                                                  ("sightkit_crops", crops))}
        result["sets"][set_name] = out
    result["verify_check"] = {"pairs": checks, "max_abs_difference": max(
        (abs(c["cached"] - c["verify_images"]) for c in checks if c["verify_images"] is not None), default=None)}
    result["versions"] = _versions()
    result["code"] = code
    result["wall_s"] = round(time.perf_counter() - start, 1)
    from _common import write_result

    write_result(args.out, result)


def _measure(keyed: Sequence[tuple[Key, Key]], same: np.ndarray, ladder_pairs: int, load, dlib_plain: PlainDlib,
             default: SightkitPipeline, crops: SightkitPipeline) -> dict:
    """Every pipeline's figures on one condition's pairs; verify (with the ladder) on the first ``ladder_pairs``."""
    row: dict[str, dict] = {}
    probes = [b for _, b in keyed]
    t = time.perf_counter()
    dlib_plain.describe([k for pair in keyed for k in pair], load)
    row["plain_dlib"] = metrics(np.array([dlib_plain.distance(a, b) for a, b in keyed]), same,
                                time.perf_counter() - t)
    row["plain_dlib"]["probe_faces"] = _sources(dlib_plain.faces, probes)
    for name, pipe in (("sightkit", default), ("sightkit_crops", crops)):
        t = time.perf_counter()
        pipe.describe([k for pair in keyed for k in pair], load)
        plain = np.array([pipe.compare_distance(a, b) for a, b in keyed])
        row[f"{name}_find_compare"] = metrics(plain, same, time.perf_counter() - t)
        row[f"{name}_find_compare"]["probe_faces"] = _sources(pipe.faces, probes)
        row[f"{name}_find_compare"]["probe_images_with_several_faces"] = sum(
            1 for k in dict.fromkeys(probes) if pipe.faces[k] is not None and pipe.faces[k].faces > 1)
        subset = keyed[:ladder_pairs]
        t = time.perf_counter()
        pipe.add_ladder(subset, load)
        verified = np.array([pipe.distance(a, b) for a, b in subset])
        row[f"{name}_verify"] = metrics(verified, same[:ladder_pairs], time.perf_counter() - t)
        row[f"{name}_verify"]["compared_at_ladder_level"] = int(sum(pipe._plan(a, b)[1] > 0 for a, b in subset))
        if ladder_pairs < len(keyed):
            row[f"{name}_find_compare_on_verify_pairs"] = metrics(plain[:ladder_pairs], same[:ladder_pairs], 0.0)
    return row


def _check(pair: tuple[Key, Key], load, default: SightkitPipeline, crops: SightkitPipeline) -> list[dict]:
    """The cached distance of one pair against ``verify_images`` itself, for both option sets."""
    from PIL import Image

    from sightkit.errors import FaceError
    from sightkit.tasks.face.api import verify_images

    out = []
    for name, pipe in (("sightkit", default), ("sightkit_crops", crops)):
        cached = pipe.distance(*pair)
        try:
            real = verify_images(Image.fromarray(load(pair[0])), Image.fromarray(load(pair[1])),
                                 options=pipe.options, pick="largest").distance
        except (FaceError, ValueError):  # ValueError: no ladder view at the level (min() of nothing)
            real = None
        out.append({"pipeline": name, "pair": [list(k) for k in pair],
                    "cached": None if np.isnan(cached) else round(cached, 6),
                    "verify_images": None if real is None else round(real, 6)})
        if (real is None) != np.isnan(cached) or (real is not None and abs(real - cached) > 1e-4):
            raise SystemExit(f"cached verification differs from verify_images: {out[-1]}")
    return out


def _code(note: str) -> dict:
    """Which sightkit was measured: its path, the repository's commit and uncommitted face-pipeline files."""
    import subprocess

    import sightkit

    repo = Path(__file__).resolve().parents[1]

    def git(*command: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *command], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"sightkit_path": str(Path(sightkit.__file__).parent), "repo_head": git("rev-parse", "HEAD"),
            "repo_uncommitted_face_files": git("status", "--porcelain", "src/sightkit/tasks/face").splitlines(),
            "note": note}


def _versions() -> dict:
    import dlib
    import PIL
    import sklearn

    return {"dlib": dlib.__version__, "numpy": np.__version__, "pillow": PIL.__version__,
            "scikit-learn": sklearn.__version__}


if __name__ == "__main__":
    main()
