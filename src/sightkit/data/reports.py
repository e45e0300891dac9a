"""The ``report.html`` of the data commands: summary tables and thumbnails of each finding.

Example:
    >>> write_audit_report(audit_dataset("data/flowers"), "runs/audit-flowers")  # doctest: +SKIP
    PosixPath('runs/audit-flowers/report.html')
    >>> write_label_issues_report(find_label_issues("data/flowers"), "runs/label-issues-flowers")  # doctest: +SKIP
    >>> write_suggest_report(suggest("runs/flowers/model", "photos/new", 100), "runs/suggest-new")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from sightkit.core.images import load_image
from sightkit.core.report import write_report
from sightkit.errors import ImageError

SHOWN = 32
THUMB_SIDE = 96
_TITLES = {"exact_duplicates": "exact duplicate", "near_duplicates": "near duplicate", "split_leaks": "split leak",
           "blank": "blank", "tiny": "tiny"}


def write_audit_report(report: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``report.json``, one thumbnail grid per finding (first :data:`SHOWN` images) and ``report.html``."""
    from sightkit.tasks.classify.plots import plot_image_grid

    figures: dict[str, Figure] = {}
    for name, title in _TITLES.items():
        items = _thumbnail_items(name, report["findings"][name])
        if items:
            images = [_thumbnail(path) for path, _ in items]
            figures[name] = plot_image_grid(images, [f"{title}: {caption}" for _, caption in items], ncols=8)
    counts = {f"found_{name}": n for name, n in report["counts"].items()}
    per_class = {label: {"images": n, **{split: report["per_split"].get(split, {}).get(label, 0)
                                         for split in report["per_split"]}}
                 for label, n in report["classes"].items()}
    page = {**report, **counts, "per_class": per_class}
    notes = [f"unreadable: {item['error']}" for item in report["findings"]["unreadable"][:SHOWN]]
    thresholds = report["thresholds"]
    info = {"data": report["data"], "layout": report["layout"],
            "near duplicate": f"perceptual hash within {thresholds['near_distance_bits']} of 64 bits",
            "blank": f"grey standard deviation under {thresholds['blank_std']}",
            "tiny": f"shorter side under {thresholds['tiny_min_side']} px"}
    keys = ["images", "readable", "imbalance_ratio", *counts]
    return write_report(out_dir, page, figures, title="sightkit data audit", summary_keys=keys, info=info,
                        notes=notes)


def _thumbnail_items(name: str, findings: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(path, caption)`` per image to show: every member of each group, numbered by group."""
    items: list[tuple[str, str]] = []
    for number, finding in enumerate(findings, start=1):
        if "paths" in finding:
            where = finding.get("splits") or [None] * len(finding["paths"])
            labels = finding.get("labels") or [None] * len(finding["paths"])
            for path, split, label in zip(finding["paths"], where, labels):
                tags = "/".join(t for t in (split, label) if t)
                items.append((path, f"#{number} {tags} {Path(path).name}".replace("  ", " ")))
        else:
            size = f"{finding.get('width')}x{finding.get('height')}"
            extra = f"std {finding['pixel_std']}" if "pixel_std" in finding else size
            items.append((finding["path"], f"{Path(finding['path']).name} ({extra})"))
        if len(items) >= SHOWN:
            break
    return items[:SHOWN]


def _thumbnail(path: str) -> np.ndarray:
    """The image at most :data:`THUMB_SIDE` px a side (small images scaled up without smoothing)."""
    try:
        image = load_image(path, "RGB")
    except ImageError:
        return np.full((THUMB_SIDE, THUMB_SIDE, 3), 128, np.uint8)
    scale = THUMB_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return np.asarray(image.resize(size, Image.NEAREST if scale > 1 else Image.BILINEAR))


def write_label_issues_report(result: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``report.json``, thumbnails of the :data:`SHOWN` most suspicious images and ``report.html``."""
    from sightkit.tasks.classify.plots import plot_image_grid

    shown = result["issues"][:SHOWN]
    figures = {}
    if shown:
        captions = [f"#{i['rank']} {i['given']} -> {i['suggested']} (q {i['quality']:.2f}) {Path(i['path']).name}"
                    for i in shown]
        figures["label_issues"] = plot_image_grid([_thumbnail(i["path"]) for i in shown], captions, ncols=8)
    page = {key: value for key, value in result.items() if key != "images"}
    info = {"data": result["data"], "method": f"{result['folds']}-fold cross-validation with {result['model']} "
            f"({result['epochs']} epochs per fold), then cleanlab find_label_issues",
            "quality": "cleanlab self-confidence: the out-of-sample probability of the given label"}
    keys = ["n", "folds", "out_of_sample_accuracy", "n_issues"]
    return write_report(out_dir, page, figures, title="sightkit label issues", summary_keys=keys, info=info)


def write_suggest_report(result: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``report.json``, thumbnails of the first :data:`SHOWN` suggested images and ``report.html``."""
    from sightkit.tasks.classify.plots import plot_image_grid

    shown = result["suggestions"][:SHOWN]
    figures = {}
    if shown:
        captions = [f"#{s['rank']} {s['predicted'] or ''} ({s['score']:.2f}) {Path(s['path']).name}".replace("  ", " ")
                    for s in shown]
        figures["suggested"] = plot_image_grid([_thumbnail(s["path"]) for s in shown], captions, ncols=8)
    info = {"bundle": result["bundle"], "unlabelled images": result["unlabeled"], "strategy": result["strategy"],
            "score": "uncertainty 0..1 (1 - margin between the two most likely classes; normalised entropy for "
                     "--strategy entropy; 0 for random)",
            "manifest": result.get("manifest", "")}
    notes = [f"unreadable: {item['error']}" for item in result["unreadable"][:SHOWN]]
    keys = ["n", "pool", "already_labelled", "labelled_given", "n_unreadable"]
    return write_report(out_dir, result, figures, title="sightkit suggest: images to label next", summary_keys=keys,
                        info=info, notes=notes)
