"""Nearest-class-mean accuracy straight from ``classify embed`` vectors: a check of ``--few-shot`` and an ablation.

Embeds every image of the target classes once with the ``--init`` bundle of
``classify_transfer.py``, then, on the same seeded K-shot splits, scores the prototype classifier
on L2-normalised embeddings (what ``--few-shot`` saves) and on embeddings centred on the support
mean before normalising (SimpleShot's CL2N). The first column should equal the few-shot rows of
``results/classify_transfer.json``.

    python benchmarks/classify_transfer_prototypes.py
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from _common import SHARED_DATA, write_result
from classify_transfer import TARGET_CLASSES


def accuracy(emb: np.ndarray, labels: np.ndarray, support: list[int], center: bool) -> float:
    """Test accuracy of the nearest normalised class mean; the test set is every row not in ``support``."""
    if center:
        emb = emb - emb[support].mean(0)
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    protos = np.stack([emb[[i for i in support if labels[i] == c]].mean(0) for c in range(labels.max() + 1)])
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    test = np.setdiff1d(np.arange(len(emb)), support)
    return round(float(((emb[test] @ protos.T).argmax(1) == labels[test]).mean()), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", type=Path,
                        default=Path(__file__).parent / "runs" / "classify_transfer" / "pretrain" / "model")
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    from sightkit import Classifier

    clf = Classifier.load(args.init)
    plants = SHARED_DATA / "plantvillage_small"
    tasks = {"cifar10_5-9": (SHARED_DATA / "cifar10_subset", TARGET_CLASSES),
             "plantvillage": (plants, tuple(sorted(p.name for p in plants.iterdir() if p.is_dir())))}
    rows = []
    for task, (root, classes) in tasks.items():
        files = {c: sorted(p for p in (root / c).iterdir() if p.is_file()) for c in classes}
        ordered = [f for c in classes for f in files[c]]
        emb = clf.embed(ordered)
        labels = np.array([i for i, c in enumerate(classes) for _ in files[c]])
        start = np.cumsum([0] + [len(files[c]) for c in classes])
        for k in args.shots:
            for seed in args.seeds:
                rng = random.Random(seed)  # the draw of classify_transfer.manifest
                support = [int(start[i]) + j for i, c in enumerate(classes)
                           for j in sorted(rng.sample(range(len(files[c])), k))]
                rows.append({"task": task, "shots": k, "seed": seed,
                             "l2": accuracy(emb, labels, support, center=False),
                             "centred_l2": accuracy(emb, labels, support, center=True)})
                print(rows[-1], flush=True)
    write_result("classify_transfer_prototypes", {"init": str(args.init), "runs": rows})


if __name__ == "__main__":
    main()
