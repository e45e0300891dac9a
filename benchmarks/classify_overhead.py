"""Framework overhead of ``sightkit classify``: its training and prediction speed against bare PyTorch.

Training: sightkit's real training path (``sightkit.tasks.classify.train.train``, progress bar
off and on) against a hand-written loop with the same model class and seed, the same
``ImageDataset``/transforms and DataLoader settings, AdamW + ``warmup_cosine`` and
label-smoothed cross entropy. Both are timed per epoch over the training batches only
(sightkit's ``img_per_s`` from ``logs/metrics.csv``), dropping the first epoch of each run.
Runs alternate hand, sightkit, hand, ...; each sightkit run is compared with the hand runs
either side of it. Target: sightkit / hand >= 0.95.

Prediction: ``Predictor.predict`` from image files (decode, preprocess, forward, softmax,
top-k, default batching and workers) and from in-memory PIL images, against the bare
``model.eval()`` forward under ``torch.inference_mode()`` on pre-decoded, normalised tensors.
Median over ``--repeats`` interleaved rounds of the ratio within each round.
Target: files / bare >= 0.90.

Data pipeline: images/s of decoding (file -> model-size uint8 tensor), of augment +
normalise from the in-memory cache, and of the whole training DataLoader, beside the model.

    python benchmarks/classify_overhead.py                 # all 5,000 images, 4 epochs per run
    python benchmarks/classify_overhead.py --limit 1250 --epochs 3 --predict-images 1000  # a slow CPU
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, write_result

TRAIN_TARGET, PREDICT_TARGET = 0.95, 0.90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "cifar10_subset",
                        help="image folder; scikit-learn digits are used when it is missing")
    parser.add_argument("--limit", type=int, default=0,
                        help="use an evenly spread subset of this many images of --data (0: all)")
    parser.add_argument("--model", default="skcnn_small")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per training run (the first is dropped)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument("--predict-images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the prediction timings")
    args = parser.parse_args()

    from sightkit.tasks.classify.config import make_config

    config = make_config(model=args.model, epochs=args.epochs, batch_size=args.batch_size, img_size=args.img_size,
                         augment="light", val_fraction=0.2, test_fraction=0.0, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if not data.is_dir():
            from sightkit.data.samples import export_digits

            data = export_digits(Path(tmp) / "digits") / "train"
        if args.limit:
            data = subset(data, args.limit, Path(tmp) / "subset.csv")
        result = run(data, config, Path(tmp), args.predict_images, args.repeats)
    write_result("classify_overhead", {"data": str(args.data if args.data.is_dir() else "sklearn digits (fallback)"),
                                       "limit": args.limit or None, "model": args.model, "epochs_per_run": args.epochs,
                                       "batch_size": args.batch_size, "img_size": args.img_size, "augment": "light",
                                       **result})


def run(data: Path, config: Any, tmp: Path, predict_images: int, repeats: int) -> dict[str, Any]:
    """All measurements on ``data``; returns the result fields."""
    import torch

    from sightkit.core.images import load_image
    from sightkit.data.dataset import ImageDataset
    from sightkit.data.discover import discover
    from sightkit.data.transforms import build_eval_transform, build_train_transform
    from sightkit.tasks.classify.model import default_normalization
    from sightkit.tasks.classify.predict import Predictor
    from sightkit.tasks.classify.train import _loaders, train

    splits = discover(data, config.val_fraction, config.test_fraction, config.seed)
    channels = 1 if splits.grayscale else 3
    mean, std = default_normalization(config.model, channels)
    size = config.img_size
    train_ds = ImageDataset(splits.train, "L" if channels == 1 else "RGB", size,
                            build_train_transform(config.augment, mean, std, size=size, hflip=config.hflip))
    val_ds = ImageDataset(splits.val, train_ds.mode, size, build_eval_transform(mean, std))
    loader, _ = _loaders(train_ds, val_ds, config)
    print(f"data {data}: {len(train_ds)} train / {len(val_ds)} val, {loader.num_workers} loader workers, "
          f"{torch.get_num_threads()} torch threads", flush=True)

    # Training: alternate hand, sightkit (no progress bar), hand, sightkit (progress bar), hand; each
    # sightkit run is compared with the hand runs either side of it, which cancels a steady drift.
    hand: list[list[float]] = []
    sightkit: dict[str, list[float]] = {}
    train_ratios: dict[str, float] = {}
    bundle = None
    for progress in (None, False, None, True, None):
        if progress is None:
            rates = hand_train(config, len(splits.classes), channels, loader)
            hand.append(rates[1:])
        else:
            out = tmp / f"run{len(sightkit)}"
            bundle = train(data, config, out, progress=progress, status=lambda message: None).bundle_path
            rates = epoch_rates(out / "logs" / "metrics.csv")
            sightkit["progress_on" if progress else "progress_off"] = rates[1:]
        print(f"{'hand' if progress is None else f'sightkit progress={progress}'}: "
              f"{[round(r) for r in rates]} img/s", flush=True)
        if progress is None and len(hand) > 1:
            name, rates = list(sightkit.items())[-1]
            train_ratios[name] = statistics.median(rates) / statistics.median(hand[-2] + hand[-1])
    hand_med = statistics.median(r for run in hand for r in run)

    # Prediction: Predictor end to end vs the bare forward on pre-decoded tensors.
    predictor = Predictor.from_bundle(bundle)
    files = [s.path for s in splits.train + splits.val][:predict_images]
    pil_images = [load_image(f, predictor.mode) for f in files]
    tensors = torch.stack([predictor.preprocess(f) for f in files])
    batch = config.batch_size

    def bare() -> None:
        with torch.inference_mode():
            for i in range(0, len(tensors), batch):
                predictor.model(tensors[i:i + batch])

    timed: dict[str, Callable[[], object]] = {
        "bare_forward": bare,
        "predict_files": lambda: predictor.predict(files, batch_size=batch),
        "predict_pil": lambda: predictor.predict(pil_images, batch_size=batch),
    }
    rounds: dict[str, list[float]] = {name: [] for name in timed}
    for r in range(repeats + 1):  # round 0 warms up; the order flips each round to cancel drift
        for name, fn in list(timed.items())[:: 1 if r % 2 else -1]:
            rounds[name].append(images_per_s(fn, len(files)))
    rounds = {name: values[1:] for name, values in rounds.items()}
    predict = {name: statistics.median(values) for name, values in rounds.items()}
    ratios = {f"{name}_vs_bare": statistics.median(a / b for a, b in zip(rounds[name], rounds["bare_forward"]))
              for name in ("predict_files", "predict_pil")}

    # Data pipeline beside the model.
    samples = train_ds.samples[:2000]
    pipeline = {
        "decode_img_per_s": images_per_s(lambda: [train_ds.decode(s) for s in samples], len(samples)),
        "augment_normalise_img_per_s": images_per_s(lambda: [train_ds[i] for i in range(len(train_ds))],
                                                    len(train_ds)),
        "train_loader_img_per_s": images_per_s(lambda: [None for _ in loader], len(loader) * config.batch_size),
        "model_train_img_per_s": hand_med,
        "loader_workers": loader.num_workers,
    }
    pipeline["loader_share_of_train_time"] = hand_med / pipeline["train_loader_img_per_s"]
    return {
        "n_train": len(train_ds), "predict_images": len(files), "predict_repeats": repeats,
        "train": {"note": "per-epoch training images/s, first epoch of each run dropped",
                  "hand_img_per_s": hand, "sightkit_img_per_s": sightkit, "hand_median": hand_med,
                  "ratio_note": "sightkit median / median of the hand runs just before and after it",
                  "sightkit_median": {k: statistics.median(v) for k, v in sightkit.items()},
                  "ratio": train_ratios, "target": TRAIN_TARGET,
                  "pass": {k: v >= TRAIN_TARGET for k, v in train_ratios.items()}},
        "predict": {"img_per_s": predict, "rounds": rounds, "ratio": ratios, "target": PREDICT_TARGET,
                    "note": "ratios: median over rounds of the ratio within each round",
                    "pass": ratios["predict_files_vs_bare"] >= PREDICT_TARGET},
        "pipeline": {**pipeline, "pass": pipeline["train_loader_img_per_s"] > hand_med},
    }


def hand_train(config: Any, num_classes: int, channels: int, loader: Any) -> list[float]:
    """The plain PyTorch loop sightkit's training stands in for; images/s of each epoch."""
    import torch
    import torch.nn.functional as F

    from sightkit.engine.schedule import warmup_cosine
    from sightkit.tasks.classify.model import create_model

    torch.manual_seed(config.seed)
    model = create_model(config.model, num_classes, channels).train()
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    steps = len(loader)
    scheduler = warmup_cosine(optimizer, steps * config.epochs, int(config.warmup_epochs * steps))
    rates = []
    for _ in range(config.epochs):
        start, images = time.perf_counter(), 0
        for x, y in loader:
            loss = F.cross_entropy(model(x), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            images += len(x)
        rates.append(images / (time.perf_counter() - start))
    return rates


def subset(data: Path, limit: int, manifest: Path) -> Path:
    """A CSV manifest of ``limit`` images of ``data`` taken at an even stride (so classes keep their shares)."""
    from sightkit.data.discover import read_labelled_images

    pairs, _ = read_labelled_images(data)
    stride = max(1, len(pairs) // limit)
    with manifest.open("w", newline="") as f:
        csv.writer(f).writerows([("path", "label"), *((str(p), c) for p, c in pairs[::stride][:limit])])
    return manifest


def epoch_rates(metrics_csv: Path) -> list[float]:
    """The per-epoch ``img_per_s`` that sightkit's Throughput callback logged."""
    with metrics_csv.open() as f:
        return [float(row["img_per_s"]) for row in csv.DictReader(f) if row.get("img_per_s")]


def images_per_s(fn: Callable[[], object], images: int) -> float:
    start = time.perf_counter()
    fn()
    return images / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
