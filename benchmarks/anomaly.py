"""One-class anomaly detection AUROC on cifar10_subset and scikit-learn digits, per method.

Protocol, for each class in turn: that class is normal, the other nine are anomalous. The
detector trains on ``--train-fraction`` of the normal class's images (of which
``AnomalyDetector`` holds out 20% to fit its threshold); the test set is the remaining normal
images plus an equal number of images drawn at random from the other nine classes. The figure
is the AUROC averaged over the ten choices. Nothing is pretrained: PatchCore uses the built-in
random wide CNN, the autoencoder learns from the normal images alone.

    SIGHTKIT_THREADS=1 python benchmarks/anomaly.py --datasets cifar10 digits --methods patchcore autoencoder
    # or one process per dataset, merged into the same file:
    SIGHTKIT_THREADS=1 python benchmarks/anomaly.py --datasets digits --update
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import RESULTS, SHARED_DATA, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["cifar10", "digits"], choices=["cifar10", "digits"])
    parser.add_argument("--methods", nargs="+", default=["patchcore", "autoencoder"])
    parser.add_argument("--train-fraction", type=float, default=0.8, help="share of the normal class to train on")
    parser.add_argument("--size", type=int, default=32, help="input side (digits are enlarged from 8 px)")
    parser.add_argument("--epochs", type=int, default=40, help="autoencoder epochs")
    parser.add_argument("--classes", nargs="*", default=None, help="normal classes to run (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backbone-classes", nargs="*", default=None,
                        help="train a skcnn_small classify backbone on these classes (without any image of the "
                             "test sets), then run PatchCore with it for the other classes as normal")
    parser.add_argument("--backbone-epochs", type=int, default=15)
    parser.add_argument("--name", default="anomaly", help="results file name")
    parser.add_argument("--update", action="store_true",
                        help="merge into an existing results file (runs of other datasets / methods are kept), "
                             "so datasets can run as separate processes")
    args = parser.parse_args()

    from sightkit import set_threads

    set_threads(None)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            root = _dataset_root(dataset, Path(tmp))
            work = Path(tmp) / "runs" / dataset  # apart from the data: a folder in it would read as a class
            if args.backbone_classes:
                backbone = _train_backbone(root, args, work)
                results[dataset] = {"patchcore_backbone": _run(root, "patchcore", args, work, backbone)}
                continue
            results[dataset] = {method: _run(root, method, args, work) for method in args.methods}
    settings = {"train_fraction": args.train_fraction, "size": args.size, "epochs": args.epochs, "seed": args.seed}
    with _locked(Path(tempfile.gettempdir()) / f"sightkit-benchmark-{args.name}.lock"):
        commands = [" ".join([Path(sys.executable).name, *sys.argv])]
        if args.update and (RESULTS / f"{args.name}.json").exists():
            previous = json.loads((RESULTS / f"{args.name}.json").read_text())
            if {k: previous.get(k) for k in settings} != settings:
                raise SystemExit(f"{args.name}.json was run with other settings; rerun without --update")
            for dataset, runs in previous["runs"].items():
                results[dataset] = {**runs, **results.get(dataset, {})}
            commands = previous.get("commands", [previous["command"]]) + commands
        summary = {d: {m: r["mean_auroc"] for m, r in runs.items()} for d, runs in results.items()}
        write_result(args.name, {"protocol": __doc__.split("\n\n")[1].replace("\n", " "), **settings,
                                 "commands": commands, "mean_auroc": summary, "runs": results})


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (two --update runs finishing together)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _dataset_root(dataset: str, tmp: Path) -> Path:
    if dataset == "cifar10":
        root = SHARED_DATA / "cifar10_subset"
        if not root.is_dir():
            raise SystemExit(f"{root}: not found (set SIGHTKIT_SHARED to the shared folder)")
        return root
    from sightkit.data.samples import export_digits

    exported = export_digits(tmp / "digits-export", test_fraction=0.5, seed=0)
    merged = tmp / "digits"  # one folder per digit, train and test halves together
    for path in exported.glob("*/*/*.png"):
        target = merged / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path.resolve())
    return merged


def _split(root: Path, normal: str, args: argparse.Namespace) -> tuple[list[Path], list[Path], list[Path]]:
    """Training images, held-out normal test images and the sampled anomalous test images of one run."""
    from sightkit.core.images import is_image_file

    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    rng = random.Random(f"{args.seed}-{normal}")
    images = sorted(p for p in (root / normal).iterdir() if is_image_file(p))
    rng.shuffle(images)
    n_train = round(len(images) * args.train_fraction)
    others = sorted(p for c in classes if c != normal for p in (root / c).iterdir() if is_image_file(p))
    return images[:n_train], images[n_train:], rng.sample(others, len(images) - n_train)


def _normal_classes(root: Path, args: argparse.Namespace) -> list[str]:
    classes = args.classes or sorted(p.name for p in root.iterdir() if p.is_dir())
    return [c for c in classes if c not in (args.backbone_classes or [])]


def _train_backbone(root: Path, args: argparse.Namespace, work: Path) -> Path:
    """A skcnn_small classifier of ``--backbone-classes``, trained on none of the runs' test images."""
    from sightkit import Classifier

    tested = {p for normal in _normal_classes(root, args) for p in sum(_split(root, normal, args)[1:], [])}
    for name in args.backbone_classes:
        _linked(work / "backbone-data" / name, sorted(p for p in (root / name).iterdir() if p not in tested))
    start = time.perf_counter()
    clf = Classifier.train(work / "backbone-data", "skcnn_small", out=work / "backbone", epochs=args.backbone_epochs,
                           seed=args.seed, progress=False, status=lambda m: None)
    args.backbone_report = {"classes": args.backbone_classes, "images_left_out": len(tested),
                            "val_accuracy": clf.meta["metrics"].get("accuracy"),
                            "epochs": args.backbone_epochs, "train_s": round(time.perf_counter() - start, 1)}
    print("backbone", args.backbone_report, flush=True)
    return clf.path


def _run(root: Path, method: str, args: argparse.Namespace, work: Path, backbone: Path | None = None) -> dict:
    from sightkit.tasks.anomaly.api import AnomalyDetector

    runs = []
    label = f"{method}-backbone" if backbone else method
    for normal in _normal_classes(root, args):
        train_images, test_normal, test_anomalous = _split(root, normal, args)
        n_train = len(train_images)
        folders = {name: _linked(work / label / normal / name, files)
                   for name, files in (("train", train_images), ("normal", test_normal),
                                       ("anomalous", test_anomalous))}
        start = time.perf_counter()
        options: dict = {"epochs": args.epochs} if method == "autoencoder" else {}
        if backbone is not None:
            options["backbone"] = str(backbone)
        detector = AnomalyDetector.train(folders["train"], out=work / label / normal / "model.sightkit",
                                         method=method, size=args.size, seed=args.seed, **options)
        trained = time.perf_counter() - start
        report = detector.evaluate(folders["normal"], folders["anomalous"], work / method / normal / "report")
        runs.append({"normal_class": normal, "auroc": round(report["auroc"], 4),
                     "false_alarm_rate": round(report["false_alarm_rate"], 4),
                     "detection_rate": round(report["detection_rate"], 4),
                     "n_train": n_train, "n_test_normal": report["n_normal"], "n_test_anomalous": report["n_anomalous"],
                     "train_s": round(trained, 1), "total_s": round(time.perf_counter() - start, 1),
                     "train_suspects": detector.meta["training"]["suspect_count"],
                     **(_seen_unseen(report, args.backbone_classes) if backbone else {})})
        print(method, runs[-1], flush=True)
    aurocs = [r["auroc"] for r in runs]
    extra = {"backbone": args.backbone_report} if backbone else {}
    if backbone:
        for key in ("auroc_seen_classes", "auroc_unseen_classes"):
            extra[f"mean_{key}"] = round(statistics.mean(r[key] for r in runs), 4)
    return {**extra, "mean_auroc": round(statistics.mean(aurocs), 4), "min_auroc": min(aurocs), "max_auroc": max(aurocs),
            "mean_false_alarm_rate": round(statistics.mean(r["false_alarm_rate"] for r in runs), 4),
            "total_s": round(sum(r["total_s"] for r in runs), 1), "per_class": runs}


def _seen_unseen(report: dict, backbone_classes: list[str]) -> dict:
    """AUROC against the anomalies of classes the backbone was trained on, and of the others."""
    from sklearn.metrics import roc_auc_score

    normal = [r["score"] for r in report["scores"]["normal"]]
    result = {}
    for name, seen in (("auroc_seen_classes", True), ("auroc_unseen_classes", False)):
        anomalous = [r["score"] for r in report["scores"]["anomalous"]
                     if (Path(r["path"]).name.split("_")[0] in backbone_classes) == seen]
        result[name] = round(roc_auc_score([0] * len(normal) + [1] * len(anomalous), normal + anomalous), 4)
        result[name.replace("auroc", "n")] = len(anomalous)
    return result


def _linked(folder: Path, files: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        (folder / f"{path.parent.name}_{path.name}").symlink_to(path.resolve())
    return folder


if __name__ == "__main__":
    main()
