"""Class-conditional GAN on scikit-learn digits: class-consistency, FID/KID, precision/recall, and
whether synthetic images help a classifier trained on 10% of the labels.

Data: the stratified 80/20 split with seed 0 (``export_digits``): the GAN and the judging
classifier train on train/ (1,437 images), every score is measured on test/ (360 held-out digits).

1. Train the conditional GAN (``sightkit generate train digits``) on CPU.
2. Train the judge: ``skcnn_small`` on all of train/ (its features are the FID / KID space).
3. ``Generator.evaluate(test/)``: FID / KID and precision / recall of samples beside the
   real-vs-real baseline (two halves of test/), and class-consistency (goal >= 95%).
4. Few labels: one stratified 10% subset of train/ (seed 0) is all the labelled data. A second
   conditional GAN trains on that subset only (so the synthetic images carry no label the
   classifier could not see), and classifiers train on the subset (val carved from it, as
   usual) without and with ``--synthetic N`` images per class, over several classifier seeds,
   all scored on test/.

    SIGHTKIT_THREADS=1 python benchmarks/generate_digits.py --epochs 50 --few-epochs 250 --synthetic 50
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import write_result

GAN = {"width": 16, "batch_size": 32, "ema_decay": 0.0}  # small, fast on 2 CPU cores; the raw generator (see docs)


def few_label_subset(train: Path, out: Path, fraction: float, seed: int) -> Path:
    """Copy a stratified ``fraction`` of ``train/<class>/*`` to ``out/<class>/``."""
    rng = random.Random(seed)
    for folder in sorted(p for p in train.iterdir() if p.is_dir()):
        files = sorted(folder.iterdir())
        (out / folder.name).mkdir(parents=True, exist_ok=True)
        for path in rng.sample(files, max(2, round(len(files) * fraction))):
            shutil.copy(path, out / folder.name / path.name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--few-epochs", type=int, default=250, help="epochs of the GAN on the 10%% subset")
    parser.add_argument("--synthetic", type=int, default=50, help="generated images per class")
    parser.add_argument("--fraction", type=float, default=0.1, help="share of train/ labels in the few-label runs")
    parser.add_argument("--clf-epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--diffaugment", default="none", help="the GANs' DiffAugment policy")
    parser.add_argument("--ema-decay", type=float, default=GAN["ema_decay"], help="the GANs' EMA decay")
    parser.add_argument("--gan-only", action="store_true",
                        help="score the full-data GAN only (no few-label runs); writes generate_digits_<tag>.json")
    parser.add_argument("--tag", default="gan_only")
    args = parser.parse_args()
    GAN.update(diffaugment=args.diffaugment, ema_decay=args.ema_decay)

    from sightkit import Classifier
    from sightkit.data.samples import export_digits
    from sightkit.tasks.generate.api import Generator

    quiet = {"progress": False, "status": lambda m: None}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = export_digits(tmp / "digits", test_fraction=0.2, seed=0)
        start = time.perf_counter()
        gen = Generator.train(data / "train", out=tmp / "gan", epochs=args.epochs, device="cpu",
                              command=f"sightkit generate train DATA/train --epochs {args.epochs} " + " ".join(
                                  f"--{k.replace('_', '-')} {v}" for k, v in GAN.items()), **GAN, **quiet)
        gan_minutes = (time.perf_counter() - start) / 60
        print(f"GAN trained in {gan_minutes:.1f} min", flush=True)
        judge = Classifier.train(data, "skcnn_small", out=tmp / "judge", epochs=args.clf_epochs, hflip=False, **quiet)
        print(f"judge test accuracy {judge.report['accuracy']:.4f}", flush=True)
        report = gen.evaluate(data / "test", tmp / "eval", features=judge.path, per_class=100)
        print({k: report[k] for k in ("fid", "real_fid", "class_consistency")}, flush=True)
        if args.gan_only:
            write_result(f"generate_digits_{args.tag}", gan_result(GAN, args, gen, gan_minutes, judge, report))
            return

        subset = few_label_subset(data / "train", tmp / "few" / "train", args.fraction, seed=0)
        shutil.copytree(data / "test", subset.parent / "test")
        start = time.perf_counter()
        few_gen = Generator.train(subset, out=tmp / "gan-few", epochs=args.few_epochs, device="cpu", **GAN, **quiet)
        few_minutes = (time.perf_counter() - start) / 60
        few_report = few_gen.evaluate(data / "test", tmp / "eval-few", features=judge.path, per_class=100)
        print(f"few-label GAN: {few_minutes:.1f} min, consistency {few_report['class_consistency']:.3f}", flush=True)
        runs = []
        for seed in args.seeds:
            row = {"seed": seed, "labelled_images": sum(1 for _ in subset.rglob("*.png"))}
            for name, extra in (("real_only", {}), ("with_synthetic", {"synthetic": args.synthetic,
                                                                       "generator": str(few_gen.path)})):
                clf = Classifier.train(subset.parent, "skcnn_small", out=tmp / f"clf-{name}-{seed}",
                                       epochs=args.clf_epochs, hflip=False, seed=seed, **extra, **quiet)
                row[f"{name}_test_accuracy"] = clf.report["accuracy"]
            runs.append(row)
            print(row, flush=True)

    mean = {name: statistics.mean(r[f"{name}_test_accuracy"] for r in runs) for name in ("real_only", "with_synthetic")}
    write_result("generate_digits", {
        **gan_result(GAN, args, gen, gan_minutes, judge, report),
        "few_labels": {"fraction": args.fraction, "subset": "one stratified subset of train/ (seed 0)",
                       "synthetic_per_class": args.synthetic,
                       "generator": {"trained_on": "the labelled subset only", "epochs": args.few_epochs,
                                     "steps_run": few_gen.meta["training"]["steps_run"],
                                     "train_minutes": round(few_minutes, 2),
                                     "class_consistency": few_report["class_consistency"],
                                     "fid": few_report["fid"], "real_fid": few_report["real_fid"]},
                       "classifier": f"skcnn_small, {args.clf_epochs} epochs, val carved from the labelled subset; "
                                     "seeds vary the classifier",
                       "runs": runs, "mean_test_accuracy": mean,
                       "synthetic_helps": mean["with_synthetic"] > mean["real_only"]},
    })


def gan_result(gan: dict, args: argparse.Namespace, gen: object, minutes: float, judge: object,
               report: dict) -> dict:
    """The full-data GAN's part of the result: its recipe and run, the judge, the evaluation, the target."""
    return {
        "gan": {**gan, "epochs": args.epochs, "epochs_run": gen.meta["training"]["epochs_run"],
                "steps_run": gen.meta["training"]["steps_run"], "train_minutes": round(minutes, 2),
                "final_diversity_within_class": gen.meta["training"]["diversity"],
                "collapse_warnings": gen.meta["training"]["collapse_warnings"]},
        "judge": {"model": "skcnn_small", "trained_on": "train/ (all labels)", "epochs": args.clf_epochs,
                  "test_accuracy": judge.report["accuracy"]},
        "evaluation": {k: report[k] for k in ("n_real_half", "n_generated", "fid", "real_fid", "kid", "kid_std",
                                              "real_kid", "real_kid_std", "precision", "recall", "real_precision",
                                              "real_recall", "class_consistency", "feature_network")},
        "class_consistency_per_class": {k: v["consistency"] for k, v in report["per_class"].items()},
        "targets": {"class_consistency": 0.95},
        "meets_targets": report["class_consistency"] >= 0.95,
    }


if __name__ == "__main__":
    main()
