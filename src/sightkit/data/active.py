"""Active learning: which unlabelled images to label next, and the manifest that lists them.

A trained classifier scores every image of the unlabelled pool (calibrated probabilities and,
for ``hybrid``, its L2-normalised penultimate-layer embeddings from
:meth:`~sightkit.tasks.classify.predict.Predictor.embed`, the code behind ``Classifier.embed``);
:func:`sightkit.data.selection.select` then picks the images (strategies: ``hybrid``, ``margin``,
``entropy``, ``random``). Images already labelled (``labeled``: same file or same bytes) are
skipped, and their embeddings are the starting centres of the k-center step, so a batch fills
the gaps the labelled set leaves. Unreadable images are skipped and reported.

Example:
    >>> result = suggest("runs/flowers/model", "photos/new", 100, labeled="data/flowers")  # doctest: +SKIP
    >>> result["suggestions"][0]  # doctest: +SKIP
    {'rank': 1, 'path': '/photos/new/0412.jpg', 'score': 0.97, 'reason': 'uncertain: rose 0.41 vs tulip 0.38; ...'}
    >>> write_manifest(result, "to_label.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sightkit.core.fileio import atomic_write_text
from sightkit.core.images import is_image_file
from sightkit.data.selection import CANDIDATE_FACTOR, DEFAULT_STRATEGY, STRATEGIES, select
from sightkit.errors import ConfigError, DataError

if TYPE_CHECKING:
    from sightkit.tasks.classify.api import Classifier

log = logging.getLogger(__name__)

PathsOrFolder = str | Path | Sequence[str | Path]
_PASSES = {"random": 0, "margin": 1, "entropy": 1, "hybrid": 2, "badge": 2}  # passes of the classifier over the pool


def suggest(bundle: str | Path | Classifier, unlabeled: PathsOrFolder, n: int, *, strategy: str = DEFAULT_STRATEGY,
            labeled: PathsOrFolder | None = None, seed: int = 0, batch_size: int = 64,
            candidate_factor: int = CANDIDATE_FACTOR, progress: Callable[[int], None] | None = None,
            status: Callable[[str], None] = log.info) -> dict[str, Any]:
    """Rank ``n`` images of ``unlabeled`` (a folder, a glob or a list of files) to label next.

    ``labeled`` (labelled data: class folders, split folders, a CSV manifest, or a list of
    files) is skipped in the pool and seeds the diversity step. ``progress(k)`` is called as
    images are scored (:func:`work_units` tells the total). Returns the settings, the counts and
    ``suggestions``: ``rank``, ``path``, ``score`` (0..1, higher is more uncertain; 0 for
    ``random``), ``reason`` and ``predicted``.

    Example:
        >>> r = suggest("runs/digits/model", "pool/", 20, strategy="margin")  # doctest: +SKIP
        >>> [s["path"] for s in r["suggestions"][:2]]  # doctest: +SKIP
        ['pool/0173.png', 'pool/0022.png']
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy {strategy}: choose one of {', '.join(STRATEGIES)}")
    if n < 1:
        raise ConfigError(f"-n {n}: ask for at least 1 image")
    if candidate_factor < 1:
        raise ConfigError(f"candidate factor {candidate_factor}: use 1 or more")
    classifier = _classifier(bundle)
    pool = list_pool(unlabeled)
    known = list_labelled(labeled) if labeled is not None else []
    candidates = _without_labelled(pool, known)
    skipped_labelled = len(pool) - len(candidates)
    if n > len(candidates):
        raise DataError(f"-n {n}: only {len(candidates)} unlabelled images in the pool"
                        + (f" ({skipped_labelled} more are already labelled)" if skipped_labelled else "")
                        + "; ask for fewer")
    passes = _PASSES[strategy]
    if skipped_labelled:
        status(f"skipped {skipped_labelled} images already labelled")
        if progress is not None and passes:
            progress(passes * skipped_labelled)  # so the total of work_units() is reached
    unreadable: list[dict[str, str]] = []
    probs = embeddings = centres = None
    if strategy != "random":
        kept, probs, failed = _probabilities(classifier, candidates, batch_size, progress)
        unreadable = [{"path": str(candidates[i]), "error": message} for i, message in failed]
        for item in unreadable:
            status(f"skipped {item['error']}")
        candidates = [candidates[i] for i in kept]
        if progress is not None and failed and passes > 1:
            progress(len(failed))  # not embedded
        if n > len(candidates):
            raise DataError(f"-n {n}: only {len(candidates)} readable unlabelled images in the pool; ask for fewer")
        if strategy in ("hybrid", "badge"):
            embeddings = classifier.predictor.embed(candidates, batch_size, progress=progress)[0]
            if known and strategy == "hybrid":
                centres = classifier.predictor.embed(known, batch_size, skip_errors=True, progress=progress)[0]
    chosen = select(strategy, n, probs, embeddings, centres, seed=seed, candidate_factor=candidate_factor,
                    size=len(candidates))
    suggestions = []
    for rank, (row, score, distance) in enumerate(zip(chosen.indices, chosen.scores, chosen.distances), start=1):
        top = _top_two(probs[row], classifier.classes) if probs is not None else None
        suggestions.append({"rank": rank, "path": str(candidates[row]), "score": round(score, 6),
                            "reason": _reason(strategy, top, score, distance, seed, bool(known)),
                            "predicted": top[0][0] if top else None})
    return {"bundle": str(classifier.path), "unlabeled": _describe(unlabeled), "strategy": strategy, "n": n,
            "seed": seed, "candidate_factor": candidate_factor if strategy == "hybrid" else None,
            "pool": len(pool), "already_labelled": skipped_labelled, "labelled_given": len(known),
            "n_unreadable": len(unreadable), "unreadable": unreadable, "classes": classifier.classes,
            "suggestions": suggestions}


def work_units(strategy: str, pool: int, labelled: int = 0) -> int:
    """The total of ``suggest``'s ``progress`` calls: images of the pool (labelled ones included) times the
    passes over it (margin, entropy: 1; hybrid: 2, plus the labelled images; badge: 2; random: none).

    Example:
        >>> work_units("hybrid", 1000, 200)
        2200
    """
    return _PASSES[strategy] * pool + (labelled if strategy == "hybrid" else 0)


def list_pool(unlabeled: PathsOrFolder) -> list[Path]:
    """The image files of an unlabelled pool: a folder (images directly inside or nested in non-class
    folders), a glob, or a list of files. A folder laid out by class is refused: it is labelled data.

    Example:
        >>> list_pool("photos/new")[:2]  # doctest: +SKIP
        [PosixPath('photos/new/0001.jpg'), PosixPath('photos/new/0002.jpg')]
    """
    if not isinstance(unlabeled, (str, Path)):
        files = [Path(p) for p in unlabeled]
        if not files:
            raise DataError("UNLABELED: the list of images is empty")
        return files
    root = Path(unlabeled)
    if root.is_dir():
        subfolders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if subfolders and not any(is_image_file(p) for p in root.iterdir() if p.is_file()):
            shown = ", ".join(subfolders[:4]) + (", ..." if len(subfolders) > 4 else "")
            raise DataError(f"UNLABELED {root}: holds only subfolders ({shown}), like a labelled dataset; give the "
                            f"folder of unlabelled images, pass labelled data as --labeled, or give a glob such as "
                            f"'{root}/**/*.jpg' if these images really are unlabelled")
        files = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p) and not p.name.startswith("."))
    elif root.is_file():
        raise DataError(f"UNLABELED {root}: give a folder of images or a glob, not one file")
    else:
        import glob

        files = sorted(Path(p) for p in glob.glob(str(root), recursive=True) if is_image_file(Path(p)))
        if not files and not any(c in str(root) for c in "*?["):
            raise DataError(f"UNLABELED {root}: no such folder")
    if not files:
        raise DataError(f"UNLABELED {root}: no image files found (by suffix: .jpg, .png, .bmp, .tif, .webp, ...)")
    return files


def list_labelled(labeled: PathsOrFolder) -> list[Path]:
    """The image files of labelled data (class or split folders, a CSV manifest) or of a list of files."""
    if not isinstance(labeled, (str, Path)):
        return [Path(p) for p in labeled]
    from sightkit.data.inventory import list_dataset

    try:
        return [entry.path for entry in list_dataset(labeled).entries]
    except DataError as exc:
        raise DataError(str(exc).replace("DATA ", "--labeled ", 1)) from None


def write_manifest(result: dict[str, Any], path: str | Path) -> Path:
    """Write the suggestions as a CSV ``path,score,reason`` (best first) atomically.

    Image paths are relative to the manifest's folder when they share a drive, as in every
    sightkit manifest, so a labelling tool (or a ``label`` column added later) resolves them
    from there.

    Example:
        >>> write_manifest(suggest("runs/x/model", "pool/", 50), "to_label.csv")  # doctest: +SKIP
        PosixPath('to_label.csv')
    """
    target = Path(path)
    if target.suffix.lower() != ".csv":
        raise ConfigError(f"--out {target}: use a .csv file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    base = target.parent.resolve()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "score", "reason"])
    for item in result["suggestions"]:
        image = Path(item["path"]).resolve()
        try:
            shown = os.path.relpath(image, base)
        except ValueError:  # another drive (Windows)
            shown = str(image)
        writer.writerow([shown, f"{item['score']:.6f}", item["reason"]])
    return atomic_write_text(target, buffer.getvalue())


def _classifier(bundle: str | Path | Classifier) -> Classifier:
    from sightkit.tasks.classify.api import Classifier

    if isinstance(bundle, Classifier):
        return bundle
    return Classifier.load(bundle)


def _without_labelled(pool: list[Path], labelled: list[Path]) -> list[Path]:
    """The pool minus files that are labelled: the same file, or a copy with the same bytes."""
    if not labelled:
        return pool
    known_paths = {p.resolve() for p in labelled}
    known_sizes = {_size(p) for p in labelled} - {None}
    known_digests = {_digest(p) for p in labelled if _size(p) is not None}
    return [p for p in pool if p.resolve() not in known_paths
            and not (_size(p) in known_sizes and _digest(p) in known_digests)]


def _probabilities(classifier: Classifier, paths: list[Path], batch_size: int,
                   progress: Callable[[int], None] | None) -> tuple[list[int], np.ndarray, list[tuple[int, str]]]:
    """Calibrated probabilities of the readable images: ``(their indices, (N, C) probabilities, errors)``."""
    import torch

    predictor = classifier.predictor
    kept: list[int] = []
    rows: list[np.ndarray] = []
    failed: list[tuple[int, str]] = []
    for indices, logits, errors in predictor.iter_logits(paths, batch_size):
        if progress is not None:
            progress(len(indices) + len(errors))
        failed += errors
        if indices:
            kept += indices
            rows.append(torch.softmax(logits / predictor.temperature, dim=1).numpy())
    if not kept:
        raise DataError(f"UNLABELED: no readable image among {len(paths)}" + (f", e.g. {failed[0][1]}" if failed else ""))
    order = np.argsort(kept, kind="stable")
    return [kept[i] for i in order], np.concatenate(rows)[order], sorted(failed)


def _top_two(probs: np.ndarray, classes: list[str]) -> list[tuple[str, float]]:
    best = np.argsort(-probs)[:2]
    return [(classes[i], float(probs[i])) for i in best]


def _reason(strategy: str, top: list[tuple[str, float]] | None, score: float, distance: float | None,
            seed: int, labelled: bool) -> str:
    if strategy == "random" or top is None:
        return f"random sample (seed {seed})"
    classes = f"{top[0][0]} {top[0][1]:.2f} vs {top[1][0]} {top[1][1]:.2f}"
    if strategy == "margin":
        return f"uncertain: {classes}"
    if strategy == "entropy":
        return f"uncertain: entropy {score:.2f} ({classes})"
    if strategy == "badge":
        where = "first of the batch" if distance is None else f"gradient {distance:.2f} from the nearest suggested"
        return f"uncertain: {classes}; {where}"
    if distance is None:
        return f"uncertain: {classes}; first of the batch"
    near = "labelled or suggested" if labelled else "suggested"
    return f"uncertain: {classes}; {distance:.2f} from the nearest {near} image"


def _describe(source: PathsOrFolder) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"{len(source)} files"


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
