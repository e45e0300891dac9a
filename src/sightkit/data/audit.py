"""Audit a dataset before training: class balance, image statistics and problem files.

Findings (each a list in ``report["findings"]``):

* ``unreadable``: files the safe loader cannot decode (corrupt, truncated, not an image, too large);
* ``exact_duplicates``: files with identical bytes (SHA-256), with ``labels`` so conflicting labels show;
* ``near_duplicates``: perceptual-hash neighbours (resized / re-encoded / lightly edited copies),
  at most ``near_distance`` of 64 bits apart (:mod:`sightkit.data.duplicates`);
* ``split_leaks``: exact or near duplicate groups that span train / val / test (scores on the
  held-out split then overstate accuracy);
* ``blank``: near-constant images (grey standard deviation under ``blank_std``);
* ``tiny``: images whose shorter side is under ``min_side`` (default: a quarter of the median
  shorter side, at least 8 px).

Blank images are left out of near-duplicate search: all blank images hash alike.

Example:
    >>> report = audit_dataset("data/flowers")  # doctest: +SKIP
    >>> report["imbalance_ratio"], len(report["findings"]["split_leaks"])  # doctest: +SKIP
    (3.2, 0)
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sightkit.data.duplicates import NEAR_DISTANCE, exact_groups, near_groups
from sightkit.data.image_facts import ImageFacts, image_facts
from sightkit.data.inventory import Entry, Inventory, list_dataset
from sightkit.errors import ConfigError

BLANK_STD = 2.0
TINY_FRACTION = 0.25
TINY_FLOOR = 8
FINDINGS = ("unreadable", "exact_duplicates", "near_duplicates", "split_leaks", "blank", "tiny")


def audit_dataset(data: str | Path | Inventory, *, near_distance: int = NEAR_DISTANCE, blank_std: float = BLANK_STD,
                  min_side: int | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Read every image of ``data`` (a dataset path, or its :func:`list_dataset` inventory) once and
    return the audit report (a JSON-ready dict).

    ``progress(n)`` is called after each file. See the module docstring for the findings.
    """
    if not 0 <= near_distance <= 32:
        raise ConfigError(f"--near-distance {near_distance}: use 0-32 bits of the 64-bit perceptual hash")
    if blank_std < 0:
        raise ConfigError(f"--blank-std {blank_std}: must be 0 or more")
    if min_side is not None and min_side < 1:
        raise ConfigError(f"--min-side {min_side}: must be at least 1 px")
    inventory = data if isinstance(data, Inventory) else list_dataset(data)
    facts: list[ImageFacts] = []
    for entry in inventory.entries:
        facts.append(image_facts(entry.path))
        if progress is not None:
            progress(1)
    by_path = {e.path: (e, f) for e, f in zip(inventory.entries, facts)}
    good = [f for f in facts if f.ok]
    sides = [min(f.width, f.height) for f in good if f.width and f.height]
    tiny_side = min_side if min_side is not None else max(TINY_FLOOR, int(TINY_FRACTION * statistics.median(sides))
                                                          if sides else TINY_FLOOR)
    blank = [f for f in good if f.pixel_std is not None and f.pixel_std < blank_std]
    blank_paths = {f.path for f in blank}
    exact = [_group(paths, by_path) for paths in exact_groups({f.path: f.sha256 for f in facts if f.sha256})]
    near = _near(good, blank_paths, near_distance, by_path)
    report: dict[str, Any] = {
        "data": str(inventory.source), "layout": inventory.layout, "images": len(facts), "readable": len(good),
        **_class_counts(inventory),
        "statistics": _statistics(good),
        "thresholds": {"near_distance_bits": near_distance, "blank_std": blank_std, "tiny_min_side": tiny_side},
        "findings": {
            "unreadable": [{"path": str(f.path), "error": f.error} for f in facts if not f.ok],
            "exact_duplicates": exact,
            "near_duplicates": near,
            "split_leaks": _leaks(exact, near) if inventory.has_splits else [],
            "blank": [{"path": str(f.path), "pixel_std": f.pixel_std} for f in blank],
            "tiny": [{"path": str(f.path), "width": f.width, "height": f.height} for f in good
                     if min(f.width or 0, f.height or 0) < tiny_side],
        },
    }
    report["counts"] = {name: len(report["findings"][name]) for name in FINDINGS}
    return report


def _class_counts(inventory: Inventory) -> dict[str, Any]:
    """Images per class (all splits), per split and class, and the largest / smallest class ratio."""
    labelled = [e for e in inventory.entries if e.label is not None]
    per_class = dict(sorted(Counter(e.label for e in labelled).items()))
    per_split: dict[str, dict[str, int]] = {}
    for entry in labelled:
        if entry.split is not None:
            split = per_split.setdefault(entry.split, {})
            split[entry.label] = split.get(entry.label, 0) + 1
    counts = list(per_class.values())
    ratio = round(max(counts) / min(counts), 3) if counts else None
    return {"classes": per_class, "per_split": per_split, "imbalance_ratio": ratio}


def _statistics(good: list[ImageFacts]) -> dict[str, Any]:
    """Width / height / file size ranges and counts of modes and formats of the readable images."""
    if not good:
        return {}

    def spread(values: list[float]) -> dict[str, float]:
        return {"min": min(values), "median": statistics.median(values), "max": max(values)}

    return {"width": spread([f.width or 0 for f in good]), "height": spread([f.height or 0 for f in good]),
            "file_kb": spread([round(f.size_bytes / 1024, 1) for f in good]),
            "modes": dict(Counter(f.mode for f in good).most_common()),
            "formats": dict(Counter(f.format for f in good).most_common())}


def _group(paths: list[Path], by_path: dict[Path, tuple[Entry, ImageFacts]]) -> dict[str, Any]:
    entries = [by_path[p][0] for p in paths]
    return {"paths": [str(p) for p in paths], "labels": [e.label for e in entries],
            "splits": [e.split for e in entries]}


def _near(good: list[ImageFacts], blank: set[Path], max_distance: int,
          by_path: dict[Path, tuple[Entry, ImageFacts]]) -> list[dict[str, Any]]:
    """Near-duplicate groups of distinct files: one representative per exact-duplicate set is compared."""
    copies: dict[str, list[Path]] = {}
    for f in good:
        if f.path not in blank and f.sha256 is not None and f.phash is not None:
            copies.setdefault(f.sha256, []).append(f.path)
    hashes = {digest: by_path[paths[0]][1].phash for digest, paths in copies.items()}
    groups = []
    for digests, distance in near_groups(hashes, max_distance):  # type: ignore[arg-type]
        paths = [p for d in digests for p in copies[d]]
        groups.append({**_group(paths, by_path), "distance": distance})
    return groups


def _leaks(exact: list[dict[str, Any]], near: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Duplicate groups whose members sit in more than one split."""
    leaks = []
    for kind, groups in (("exact", exact), ("near", near)):
        for group in groups:
            splits = sorted({s for s in group["splits"] if s is not None})
            if len(splits) > 1:
                leaks.append({"kind": kind, "paths": group["paths"], "splits_involved": splits,
                              "labels": group["labels"], "splits": group["splits"]})
    return leaks
