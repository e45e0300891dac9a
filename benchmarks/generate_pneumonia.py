"""Class-conditional GAN on PneumoniaMNIST chest X-rays (28 px grey, 2 classes, imbalanced):
class-consistency, FID/KID beside the real-vs-real baseline, precision/recall, within-class diversity.

Data: ``../shared/data/pneumoniamnist`` (MedMNIST v2, CC BY 4.0). The GAN and the judging
classifier train on train/ (3,882 images: 388 normal, 3,494 pneumonia); every score is measured
on val/ (524 held-out images: 135 normal, 389 pneumonia). No recipe choice was made on val/
(see ``generate_tune.py``: choices were made on a cut of train/).

1. Train the conditional GAN (the library's default recipe; generator width 16, batch 32).
2. Train the judge: ``skcnn_small`` on train/ (its features are the FID / KID space).
3. ``Generator.evaluate(val/)``: FID / KID and precision / recall beside the real-vs-real
   baseline (two halves of val/), class-consistency, and the samples' within-class diversity.

    SIGHTKIT_THREADS=1 python benchmarks/generate_pneumonia.py --epochs 4
    SIGHTKIT_THREADS=1 python benchmarks/generate_pneumonia.py --bundle RUN/model --judge JUDGE --name NAME
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, write_result
from generate_tune import sampler_diversity  # first: it sets the thread pools up before torch starts

import torch  # noqa: E402

GAN = {"width": 16, "batch_size": 32}  # small, fast on 2 CPU cores; the rest is the library's default recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--judge-epochs", type=int, default=8)
    parser.add_argument("--diffaugment", help="override the default DiffAugment policy")
    parser.add_argument("--ema-decay", type=float, help="override the default EMA decay")
    parser.add_argument("--bundle", type=Path, help="evaluate this generator instead of training one")
    parser.add_argument("--judge", type=Path, help="reuse this judge (classify bundle) instead of training one")
    parser.add_argument("--work", type=Path, help="keep the GAN and judge here (default: a temporary folder)")
    parser.add_argument("--name", default="generate_pneumonia", help="result file name")
    args = parser.parse_args()

    from sightkit import Classifier
    from sightkit.tasks.generate.api import Generator

    source = SHARED_DATA / "pneumoniamnist"
    overrides = {k: v for k, v in (("diffaugment", args.diffaugment), ("ema_decay", args.ema_decay)) if v is not None}
    quiet = {"progress": False, "status": lambda m: None}
    with tempfile.TemporaryDirectory() as tmp_name:
        work = args.work or Path(tmp_name)
        data = work / "data"  # train/ and test/ (= val/): the layout `classify train` scores test/ of
        for name, target in (("train", "train"), ("test", "val")):
            if not (data / name).exists():
                shutil.copytree(source / target, data / name)
        minutes = None
        if args.bundle:
            gen = Generator.load(args.bundle)
        else:
            start = time.perf_counter()
            options = {**GAN, **overrides}
            gen = Generator.train(data / "train", out=work / "gan", epochs=args.epochs, device="cpu", command=(
                f"sightkit generate train pneumoniamnist/train --epochs {args.epochs} " + " ".join(
                    f"--{k.replace('_', '-')} {v}" for k, v in options.items())), **options, **quiet)
            minutes = (time.perf_counter() - start) / 60
            print(f"GAN trained in {minutes:.1f} min", flush=True)
        if args.judge:
            judge_path, judge_accuracy = args.judge, held_out_accuracy(args.judge, data / "test")
        else:
            judge = Classifier.train(data, "skcnn_small", out=work / "judge", epochs=args.judge_epochs, hflip=False,
                                     **quiet)
            judge_path, judge_accuracy = judge.path, judge.report["accuracy"]
            print(f"judge val accuracy {judge_accuracy:.4f}", flush=True)
        report = gen.evaluate(data / "test", work / "eval", features=judge_path, per_class=100)
        diversity = sampler_diversity(gen.sampler, data / "train")
        print({k: report[k] for k in ("fid", "real_fid", "recall", "class_consistency")}, flush=True)

    training = gen.meta["training"]
    write_result(args.name, {
        "data": "pneumoniamnist: GAN and judge on train/ (3,882), scores on val/ (524)",
        "gan": {**training["config"], "bundle": str(args.bundle) if args.bundle else "trained here",
                "trained_on": training["data"], "steps_run": training["steps_run"],
                "train_minutes": round(minutes, 2) if minutes is not None else None,
                "collapse_warnings": training["collapse_warnings"]},
        "judge": {"model": "skcnn_small", "bundle": str(args.judge) if args.judge else "trained here on train/",
                  "epochs": args.judge_epochs if not args.judge else None, "val_accuracy": judge_accuracy},
        "evaluation": {k: report[k] for k in ("n_real_half", "n_generated", "fid", "real_fid", "kid", "kid_std",
                                              "real_kid", "real_kid_std", "precision", "recall", "real_precision",
                                              "real_recall", "class_consistency", "feature_network")},
        "class_consistency_per_class": {k: v["consistency"] for k, v in report["per_class"].items()},
        "diversity_within_class": diversity,
        "targets": {"class_consistency": 0.95},
        "meets_targets": report["class_consistency"] >= 0.95,
    })


def held_out_accuracy(judge: Path, folder: Path) -> float:
    """Accuracy of the classify bundle ``judge`` on the images of ``folder/<class>/``."""
    from sightkit.tasks.generate.features import FeatureNet

    net = FeatureNet.load(judge)
    files = sorted(path for path in folder.glob("*/*.png"))
    _, logits = net.embed(files)
    truth = [net.classes.index(path.parent.name) for path in files]
    return float((logits.argmax(1) == torch.tensor(truth)).double().mean())


if __name__ == "__main__":
    main()
