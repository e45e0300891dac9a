"""Evaluate a synthesis model against real images: FID, KID, precision / recall, class-consistency.

The real images are shuffled (seeded) and cut into two disjoint halves A and B. Generated
images (as many as A holds) are compared with A, and so is B: the *real-vs-real baseline*,
the score of perfect samples at this sample size, which gives FID / KID their scale. All
scores live in the feature space of one classifier (:mod:`.features`), named in the report.
Class-consistency (conditional models): ``per_class`` samples of each class are labelled by
that classifier; the share labelled as the class they were asked for, overall and per class.

Example:
    >>> report = evaluate(Sampler.from_bundle("runs/x/model"), "digits-test", "runs/x/eval")  # doctest: +SKIP
    >>> report["fid"], report["real_fid"], report["class_consistency"]  # doctest: +SKIP
    (3.1, 0.9, 0.97)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from matplotlib.figure import Figure

from sightkit.core.folders import removed_on_failure
from sightkit.core.report import write_report
from sightkit.errors import DataError
from sightkit.tasks.generate.data import read_real_images
from sightkit.tasks.generate.features import FeatureNet, train_feature_classifier
from sightkit.tasks.generate.gan_module import GRID_COLUMNS, image_grid
from sightkit.tasks.generate.metrics import fid_kid, precision_recall
from sightkit.tasks.generate.predict import Sampler

log = logging.getLogger(__name__)

ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
MIN_REAL = 10  # two halves of at least 5 real images
_SUMMARY = ("model", "conditional", "n_real_half", "n_generated", "fid", "real_fid", "kid", "real_kid", "precision",
            "recall", "real_precision", "real_recall", "class_consistency")


@contextmanager
def _no_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


def evaluate(sampler: Sampler, data: str | Path, out_dir: str | Path, *, features: str | Path | None = None,
             n: int | None = None, per_class: int = 100, seed: int = 0, progress: ProgressFactory = _no_bar,
             train_progress: bool = False, status: Callable[[str], None] = log.info) -> dict[str, Any]:
    """Score ``sampler`` on the real images of ``data``; write ``report.json`` / ``report.html`` in ``out_dir``.

    ``features`` is a classify bundle; without it a small classifier is trained on ``data``'s
    training images and kept in ``out_dir/feature-classifier``. ``n`` generated images are
    compared (default: as many as half the real images). ``progress`` makes the bars of sampling
    and feature extraction; ``train_progress`` shows the feature classifier's training bar.
    """
    arch = sampler.meta["architecture"]
    real = read_real_images(data, arch["size"], split="eval", mode=sampler.mode)
    for path, reason in real.skipped:
        status(f"skipped {reason}")  # the reason names the file
    if len(real) < MIN_REAL:
        raise DataError(f"DATA {real.source}: {len(real)} readable images; evaluation needs at least {MIN_REAL} "
                        "(two halves for the real-vs-real baseline)")
    with removed_on_failure(out_dir) as folder:
        if features is None:
            features = train_feature_classifier(data, folder, status, progress=train_progress)
            net = FeatureNet.load(features, trained_here=True)
        else:
            net = FeatureNet.load(features)
        order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
        half = len(real) // 2
        a_idx, b_idx = order[:half], order[half:2 * half]
        n = n or half
        consistency_n = per_class * len(sampler.classes) if sampler.conditional else 0
        with progress("sampling", n + consistency_n) as advance:
            fake = sampler.sample(n, seed=seed, progress=advance)
            asked = [(name, sampler.sample(per_class, class_name=name, seed=seed + 1 + i, progress=advance))
                     for i, name in enumerate(sampler.classes)] if sampler.conditional else []
        with progress("features", 2 * half + n + consistency_n) as advance:
            real_a, _ = net.embed(real.pil(a_idx), advance)
            real_b, _ = net.embed(real.pil(b_idx), advance)
            fake_f, _ = net.embed(fake, advance)
            consistency = _class_consistency(net, asked, advance)
        status("computing FID / KID and precision / recall")
        scores, baseline = fid_kid(fake_f, real_a), fid_kid(real_b, real_a)
        precision, recall = precision_recall(fake_f, real_a)
        real_precision, real_recall = precision_recall(real_b, real_a)
        report: dict[str, Any] = {
            "model": arch["name"], "conditional": sampler.conditional, "data": real.source,
            "n_real_half": half, "n_generated": n,
            "fid": scores["fid"], "real_fid": baseline["fid"], "kid": scores["kid"], "kid_std": scores["kid_std"],
            "real_kid": baseline["kid"], "real_kid_std": baseline["kid_std"],
            "precision": precision, "recall": recall, "real_precision": real_precision, "real_recall": real_recall,
            "class_consistency": consistency.pop("overall", None), "per_class": consistency,
            "feature_network": net.description, "seed": seed,
            "convention": "real images shuffled (seed) into halves A and B; generated vs A beside B vs A "
                          "(real-vs-real baseline); k-NN precision/recall with k=3 (Kynkaanniemi et al. 2019)",
        }
        figures = {"generated_samples": _grid_figure(fake[:GRID_COLUMNS * 8], "generated (seeded)"),
                   "real_samples": _grid_figure(real.pil(a_idx[:GRID_COLUMNS * 8]), "real (half A)")}
        if asked:
            rows = [image for _, images in asked for image in images[:GRID_COLUMNS]]
            figures["samples_per_class"] = _grid_figure(rows, "one row per requested class: "
                                                              + ", ".join(sampler.classes))
        info = {"generator": sampler.meta.get("training", {}).get("command") or arch["name"],
                "real images": f"{real.source} ({len(real)} images)", "feature network": net.description}
        report["report_html"] = str(write_report(folder, report, figures, title="sightkit synthesis report",
                                                 summary_keys=list(_SUMMARY), info=info,
                                                 notes=[f"Scores use the features of {net.description}; they "
                                                        "compare only with scores in the same feature space."]))
    return report


def _class_consistency(net: FeatureNet, asked: list[tuple[str, list]],
                       advance: Callable[[int], None]) -> dict[str, Any]:
    """Per class: the share of its samples the classifier labels as that class; plus ``overall``."""
    if not asked:
        return {}
    result: dict[str, Any] = {}
    agree = total = 0
    for name, images in asked:
        _, logits = net.embed(images, advance)
        if name not in net.classes:
            result[name] = {"consistency": None, "note": "the feature classifier has no such class"}
            continue
        hits = int((logits.argmax(1) == net.classes.index(name)).sum())
        result[name] = {"consistency": hits / len(images), "n": len(images)}
        agree, total = agree + hits, total + len(images)
    result["overall"] = agree / total if total else None
    return result


def _grid_figure(images: list, title: str) -> Figure:
    """A figure of PIL images tiled ``GRID_COLUMNS`` wide, pixels unsmoothed."""
    tensors = torch.stack([_to_tensor(image) for image in images])
    grid = image_grid(tensors, GRID_COLUMNS)
    fig = Figure(figsize=(GRID_COLUMNS * 0.9, 0.9 * -(-len(images) // GRID_COLUMNS) + 0.5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return fig


def _to_tensor(image: Any) -> torch.Tensor:
    """A PIL image -> float CHW in [-1, 1] (what :func:`image_grid` takes)."""
    array = np.asarray(image, dtype=np.float32)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(array).div(127.5).sub(1.0)
