"""Tuning runs of the synthesis recipe, on tuning splits carved from the training images only.

The reported benchmarks (``generate_digits.py``, ``generate_pneumonia.py``) score on held-out
images (digits test/, PneumoniaMNIST val/). Choices of the recipe (DiffAugment, the EMA, the
mode-seeking loss) are made here instead, on a stratified 80/20 cut of the *training* images
(seed 1): the GAN and the judge train on the 80%, every score is on the other 20%.

One run trains one GAN and scores several generators of that run: the raw generator, the
bundle's EMA, and extra EMAs of other decays followed along the same run (same warm-up as the
engine's, ``min(decay, (1 + n) / (10 + n))``), so the EMA choice costs no extra training.

``--finish-epoch K`` scores a run from its checkpoint after epoch K instead (a copy of
``last.ckpt`` that :class:`Snapshots` keeps as ``RUN/snapshots/epoch_K.ckpt``): the run's own
EMA and raw generator, so runs stopped early for time compare at the same number of steps.

    SIGHTKIT_THREADS=1 python benchmarks/generate_tune.py digits --epochs 50 --diffaugment translation,cutout
    SIGHTKIT_THREADS=1 python benchmarks/generate_tune.py pneumonia --epochs 16
    SIGHTKIT_THREADS=1 python benchmarks/generate_tune.py digits --tag da --finish-epoch 6
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from pathlib import Path

from _common import SHARED_DATA, write_result
from sightkit.core.threads import prepare_process

prepare_process()  # SIGHTKIT_THREADS reaches the thread pools only if set before torch starts

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
from torch.optim.swa_utils import AveragedModel  # noqa: E402

GAN = {"width": 16, "batch_size": 32}
CACHE = Path("/tmp/sightkit-generate-tune")  # tuning splits and judges, reused across runs


class ExtraEmas(pl.Callback):
    """Follows the generator with one more EMA per decay, updated after every training batch."""

    def __init__(self, decays: list[float]) -> None:
        from sightkit.engine.gan import ema_with_warmup

        self.decays, self.make_avg = decays, ema_with_warmup
        self.emas: dict[float, AveragedModel] = {}
        self.module: pl.LightningModule | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.module = pl_module
        self.emas = {d: AveragedModel(pl_module.generator, avg_fn=self.make_avg(d), use_buffers=True)
                     for d in self.decays}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: object) -> None:
        for ema in self.emas.values():
            ema.update_parameters(pl_module.generator)


class Snapshots(pl.Callback):
    """Keeps ``folder/epoch_K.ckpt``, a copy of ``last.ckpt`` after each epoch K (Lightning writes it last)."""

    def __init__(self, checkpoint: Path, folder: Path) -> None:
        self.checkpoint, self.folder = checkpoint, folder

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.copy(trainer.current_epoch)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.copy(trainer.current_epoch)

    def copy(self, epochs_done: int) -> None:
        """Copy the checkpoint as the one after ``epochs_done`` epochs (none before the first)."""
        if epochs_done and self.checkpoint.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.checkpoint, self.folder / f"epoch_{epochs_done}.ckpt")


def split_folder(train: Path, out: Path, fraction: float = 0.2, seed: int = 1) -> Path:
    """Copy ``train/<class>/*`` into ``out/train`` and a stratified ``fraction`` into ``out/test``."""
    if (out / "test").is_dir():
        return out
    rng = random.Random(seed)
    for folder in sorted(p for p in train.iterdir() if p.is_dir()):
        files = sorted(folder.iterdir())
        held = set(rng.sample(files, round(len(files) * fraction)))
        for path in files:
            target = out / ("test" if path in held else "train") / folder.name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / path.name)
    return out


def tuning_data(name: str) -> Path:
    """The tuning split of ``digits`` (of its train/) or ``pneumonia`` (of PneumoniaMNIST's train/)."""
    if name == "digits":
        from sightkit.data.samples import export_digits

        source = CACHE / "digits-export"
        if not (source / "train").is_dir():
            export_digits(source, test_fraction=0.2, seed=0)
        return split_folder(source / "train", CACHE / "digits")
    return split_folder(SHARED_DATA / "pneumoniamnist" / "train", CACHE / "pneumonia")


def judge(data: Path, epochs: int) -> Path:
    """``skcnn_small`` trained on the tuning split's train/ (cached): the feature space and labeller."""
    from sightkit import Classifier

    out = data.parent / f"{data.name}-judge"
    if not (out / "model").exists():
        clf = Classifier.train(data, "skcnn_small", out=out, epochs=epochs, hflip=False, progress=False,
                               status=lambda m: None)
        print(f"judge: held-out accuracy {clf.report['accuracy']:.4f}", flush=True)
    return out / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", choices=["digits", "pneumonia"])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--diffaugment", default="none")
    parser.add_argument("--mode-seeking", type=float, default=0.0)
    parser.add_argument("--ema-decays", type=float, nargs="+", default=[0.99, 0.995])
    parser.add_argument("--judge-epochs", type=int, default=30)
    parser.add_argument("--tag", default="")
    parser.add_argument("--finish-epoch", type=int, help="score the run's snapshot after this epoch; no training")
    parser.add_argument("--standing-stats", action="store_true",
                        help="also score each generator with batch-norm statistics recomputed on its own weights")
    args = parser.parse_args()

    from sightkit.core.bundle import save_bundle
    from sightkit.tasks.generate.api import Generator
    from sightkit.tasks.generate.predict import Sampler

    data = tuning_data(args.data)
    run = CACHE / "runs" / f"{args.data}-{args.tag or 'run'}"
    quiet = {"progress": False, "status": lambda m: None}
    if args.finish_epoch:
        gen, models, minutes = finish(run, data, args.finish_epoch, quiet)
        options = dict(gen.meta["training"]["config"])
    else:
        options = {**GAN, "epochs": args.epochs, "diffaugment": args.diffaugment,
                   "mode_seeking": args.mode_seeking, "device": "cpu"}
        gen, models, minutes = train_with_extra_emas(run, data, options, args.ema_decays, quiet)
        print(f"GAN trained in {minutes:.1f} min", flush=True)
    run = run / f"finish-{args.finish_epoch}" if args.finish_epoch else run
    features = judge(data, args.judge_epochs)

    bundle_decay = gen.meta["training"]["config"]["ema_decay"]
    generators = {"raw": models.pop("raw"), f"ema_{bundle_decay}": gen.sampler.model, **models}
    if args.standing_stats:
        generators.update(with_standing_statistics(generators))
    scores = {}
    for name, model in generators.items():
        sampler = Sampler.from_bundle(save_bundle(run / name, model.cpu().state_dict(), gen.meta))
        report = Generator(sampler, run / name).evaluate(data / "test", run / f"eval-{name}", features=features)
        scores[name] = {k: report[k] for k in ("fid", "real_fid", "precision", "recall", "real_precision",
                                               "real_recall", "class_consistency")}
        scores[name]["per_class"] = {k: v["consistency"] for k, v in report["per_class"].items()}
        scores[name]["diversity_within_class"] = sampler_diversity(sampler, data / "train")
        print(name, {k: round(v, 3) for k, v in scores[name].items() if isinstance(v, float)}, flush=True)

    suffix = f"_epoch{args.finish_epoch}" if args.finish_epoch else ""
    write_result(f"generate_tune_{args.data}_{args.tag or 'run'}{suffix}", {
        "split": "stratified 80/20 cut (seed 1) of the training images; GAN and judge on the 80%, scores on the 20%",
        "gan": {**options, "steps_run": gen.meta["training"]["steps_run"],
                "train_minutes": round(minutes, 2) if minutes is not None else None,
                "collapse_warnings": gen.meta["training"]["collapse_warnings"]},
        "scores": scores,
    })


def train_with_extra_emas(run: Path, data: Path, options: dict, decays: list[float],
                          quiet: dict) -> tuple[object, dict, float]:
    """Train in ``run/gan`` with :class:`ExtraEmas` and :class:`Snapshots`; the generator, ``{name: extra
    generator}``, minutes."""
    import sightkit.engine.gan as engine
    from sightkit.tasks.generate.api import Generator

    extra = ExtraEmas(decays)
    build = engine.build_gan_trainer

    def build_with_extra_emas(*a: object, **k: object) -> pl.Trainer:
        trainer = build(*a, **k)
        trainer.callbacks += [extra, Snapshots(run / "gan" / "checkpoints" / "last.ckpt", run / "snapshots")]
        return trainer

    engine.build_gan_trainer = build_with_extra_emas
    shutil.rmtree(run, ignore_errors=True)
    start = time.perf_counter()
    gen = Generator.train(data / "train", out=run / "gan", **options, **quiet)
    models = {"raw": extra.module.generator, **{f"ema_{d}": ema.module for d, ema in extra.emas.items()}}
    return gen, models, (time.perf_counter() - start) / 60


def finish(run: Path, data: Path, epoch: int, quiet: dict) -> tuple[object, dict, None]:
    """The bundle (EMA) and raw generator of ``run`` after ``epoch`` epochs, from its snapshot; no training."""
    from sightkit.tasks.generate.api import Generator
    from sightkit.tasks.generate.model import create_generator

    snapshot = run / "snapshots" / f"epoch_{epoch}.ckpt"
    out = run / f"finish-{epoch}" / "gan"
    shutil.rmtree(out.parent, ignore_errors=True)
    (out / "checkpoints").mkdir(parents=True)
    shutil.copy(run / "gan" / "config.json", out / "config.json")
    shutil.copy(snapshot, out / "checkpoints" / "last.ckpt")
    gen = Generator.train(data / "train", out=out, resume=True, epochs=epoch, **quiet)  # nothing left to train
    arch = gen.meta["architecture"]
    raw = create_generator(arch["name"], arch["size"], arch["channels"], arch["num_classes"], arch["z_dim"],
                           arch["width"])
    state = torch.load(snapshot, map_location="cpu", weights_only=False)["state_dict"]
    raw.load_state_dict({k.removeprefix("generator."): v for k, v in state.items() if k.startswith("generator.")})
    return gen, {"raw": raw}, None


def with_standing_statistics(generators: dict[str, torch.nn.Module]) -> dict[str, torch.nn.Module]:
    """``{name + "_ss": copy}``: each generator with its batch-norm statistics recomputed on its own weights."""
    import copy

    out = {}
    for name, model in generators.items():
        out[f"{name}_ss"] = copy.deepcopy(model).cpu()
        standing_statistics(out[f"{name}_ss"], batches=100, batch_size=GAN["batch_size"])
    return out


@torch.no_grad()
def standing_statistics(generator: torch.nn.Module, batches: int = 100, batch_size: int = 32, seed: int = 0) -> None:
    """BigGAN's "standing statistics": every batch norm's running mean/var of ``generator`` replaced by
    their average over ``batches`` batches of its own samples (Gaussian noise, uniform classes), so
    an EMA generator is normalised with statistics of its own weights; ends in eval mode.
    Measured here, not adopted: no gain on digits, FID better but class-consistency lower on
    PneumoniaMNIST (docs/generate.md)."""
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = {m: m.momentum for m in norms}
    device = next(generator.parameters()).device
    noise = torch.Generator(device="cpu").manual_seed(seed)
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    generator.train()
    try:
        for _ in range(batches):
            z = torch.randn(batch_size, generator.z_dim, generator=noise).to(device)
            labels = (torch.randint(generator.num_classes, (batch_size,), generator=noise).to(device)
                      if generator.num_classes else None)
            generator(z, labels)
    finally:
        for m in norms:
            m.momentum = momenta[m]
        generator.eval()


def sampler_diversity(sampler: object, train: Path, per_class: int = 64) -> float:
    """Within-class diversity of ``per_class`` samples per class as a share of the real images' (pixels)."""
    from sightkit.tasks.generate.data import read_real_images
    from sightkit.tasks.generate.metrics import diversity_ratio

    real = read_real_images(train, sampler.meta["architecture"]["size"], mode=sampler.mode)
    fakes, reals, labels = [], [], []
    for index, name in enumerate(sampler.classes):
        images = sampler.sample(per_class, class_name=name, seed=100 + index)
        fakes.append(torch.stack([_tensor(im) for im in images]))
        pool = real.images[real.labels == real.classes.index(name)][:per_class].float().div(127.5).sub(1)
        reals.append(pool[:len(images)])
        labels.append(torch.full((min(len(images), len(pool)),), index))
    n = [len(r) for r in reals]
    fake = torch.cat([f[:k] for f, k in zip(fakes, n)])
    return diversity_ratio(fake, torch.cat(reals), torch.cat(labels))


def _tensor(image: object) -> torch.Tensor:
    import numpy as np

    array = np.asarray(image, dtype=np.float32)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(array).div(127.5).sub(1.0)


if __name__ == "__main__":
    main()
