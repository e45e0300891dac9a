"""Every trainable task on 2 DDP processes (gloo on the CPU), through the real CLI.

Lightning starts the second process itself by re-running the command, so each run goes through
a subprocess. Each test checks that rank 0 alone speaks (one result on stdout, one set of status
lines), that one run folder with one checkpoint set and one bundle is written, that the global
batch gives the 1-process number of steps, and that the losses are finite (and, for the losses
that should, fall).
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ENV = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "PYTHONWARNINGS": "ignore", "SIGHTKIT_THREADS": "1"}
TWO = ("--devices", "2", "--strategy", "ddp", "--device", "cpu", "--no-progress", "--json")
BUNDLE_FILES = ["bundle.json", "weights.safetensors"]


def _run(*args: str | Path) -> tuple[dict, str]:
    """``sightkit ARGS`` in a subprocess; its JSON result (fails if a second process printed one) and stderr."""
    done = subprocess.run([sys.executable, "-m", "sightkit", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), done.stderr


def _column(run_dir: Path, name: str) -> list[float]:
    """The epoch values of ``name`` in a run's CSV log."""
    with open(run_dir / "logs" / "metrics.csv", newline="") as handle:
        return [float(row[name]) for row in csv.DictReader(handle) if row.get(name)]


def _checkpoints(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").iterdir())


def _global_step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"]


def _photos(folder: Path, count: int = 6) -> Path:
    """``count`` smooth random 40x48 RGB PNGs (upsampled noise: texture a small model can learn)."""
    folder.mkdir(parents=True)
    for index in range(count):
        noise = np.random.default_rng(index).integers(0, 256, (5, 6, 3), dtype=np.uint8)
        Image.fromarray(noise).resize((48, 40), Image.Resampling.BICUBIC).save(folder / f"{index}.png")
    return folder


@pytest.mark.slow  # two processes started twice (Lightning re-runs the command): ~1 minute on 2 shared cores
def test_generate_trains_on_two_processes(tmp_path: Path):
    run = tmp_path / "run"
    result, err = _run("generate", "train", "digits", "--epochs", "2", "--batch-size", "64", "--width", "8",
                       "--disc-width", "8", "--out", run, *TWO)
    assert err.count("data: ") == 1, err
    assert result["steps_run"] == 2 * (1437 // 64)  # the 1-process count: the batch is global
    assert sorted(p.name for p in (run / "model").iterdir()) == BUNDLE_FILES
    assert _checkpoints(run) == ["best.ckpt", "last.ckpt"]
    assert len(list((run / "samples").glob("*.png"))) == 2
    for name in ("d_loss_epoch", "g_adv_epoch"):
        assert len(_column(run, name)) == 2 and all(math.isfinite(v) for v in _column(run, name))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.slow
def test_detect_trains_on_two_processes(tmp_path: Path):
    from sightkit.tasks.detect.shapes import write_shapes

    data = write_shapes(tmp_path / "shapes", count=24, size=64, fmt="yolo", seed=1)
    run = tmp_path / "run"
    result, err = _run("detect", "train", data, "--image-size", "64", "--batch-size", "4", "--epochs", "3",
                       "--val-fraction", "0.25", "--lr", "0.002", "--warmup-steps", "2", "--out", run, *TWO)
    assert err.count("training fcos_resnet18 on 18 images") == 1, err
    assert result["epochs_run"] == 3 and _global_step(run) == 3 * (18 // 4)
    assert sorted(p.name for p in (run / "model").iterdir()) == BUNDLE_FILES
    assert _checkpoints(run) == ["best.ckpt", "last.ckpt"]
    losses = _column(run, "train_loss_epoch")
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert math.isfinite(result["best_val_map_50"])


@pytest.mark.slow
def test_enhance_trains_both_stages_on_two_processes(tmp_path: Path):
    data, run = _photos(tmp_path / "hr"), tmp_path / "run"
    result, err = _run("enhance", "train", data, "--scale", "2", "--patch", "16", "--batch-size", "4", "--steps", "8",
                       "--epochs", "3", "--gan-epochs", "1", "--disc-features", "8", "--disc-warmup-steps", "1",
                       "--features", "8", "--blocks", "1", "--val-fraction", "0.34", "--out", run, *TWO)
    assert err.count("saved ") == 2, err
    assert set(result["bundles"]) == {"psnr", "gan"} and result["n"] == 2
    for name in ("model-psnr", "model-gan"):
        assert sorted(p.name for p in (run / name).iterdir()) == BUNDLE_FILES
    assert _checkpoints(run / "pixel") == ["best.ckpt", "last.ckpt"] == _checkpoints(run / "gan")
    assert _global_step(run / "pixel") == 3 * 8
    losses = _column(run / "pixel", "train_l1_epoch")
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert (run / "report" / "report.html").is_file()


@pytest.mark.slow
def test_inpaint_trains_both_stages_on_two_processes(tmp_path: Path):
    data, run = _photos(tmp_path / "photos"), tmp_path / "run"
    result, err = _run("enhance", "train-inpaint", data, "--width", "8", "--patch", "16", "--batch-size", "4",
                       "--steps", "8", "--epochs", "3", "--gan-epochs", "1", "--disc-warmup-steps", "1",
                       "--val-fraction", "0.34", "--out", run, *TWO)
    assert err.count("saved ") == 2, err
    assert set(result["bundles"]) == {"l1", "gan"} and math.isfinite(result["last_val_hole_psnr"])
    for name in ("model-l1", "model-gan"):
        assert sorted(p.name for p in (run / name).iterdir()) == BUNDLE_FILES
    assert _checkpoints(run / "l1") == ["best.ckpt", "last.ckpt"] == _checkpoints(run / "gan")
    assert _global_step(run / "l1") == 3 * 8
    losses = _column(run / "l1", "train_l1_epoch")  # the holes grow over the run (curriculum): need not fall
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert all(math.isfinite(v) for v in _column(run / "gan", "d_loss_epoch"))


_GAN_SCRIPT = '''
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from sightkit.engine.gan import build_gan_trainer
from sightkit.tasks.generate.config import make_config
from sightkit.tasks.generate.gan_module import SynthesisModule
from sightkit.tasks.generate.model import create_discriminator, create_generator

out = Path(sys.argv[1])
torch.manual_seed(0)
config = make_config(z_dim=16, width=8, disc_width=8, batch_size=16, epochs=2, device="cpu", devices=2)
images, labels = torch.rand(64, 1, 32, 32) * 2 - 1, torch.arange(64) % 4
generator = create_generator("cgan", 32, 1, 4, 16, 8)
module = SynthesisModule(generator, create_discriminator("cgan", 32, 1, 4, 8), config, real_batch=(images, labels))
trainer = build_gan_trainer(out / "run", max_epochs=2, monitor="d_loss", mode="min", device="cpu", progress=False,
                            devices=2)
trainer.fit(module, DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=True, drop_last=True))
torch.save({"generator": module.generator.state_dict(), "ema": module.generator_ema.state_dict(),
            "discriminator": module.discriminator.state_dict()}, out / f"rank{trainer.global_rank}.pt")
'''


@pytest.mark.slow
def test_gan_ddp_keeps_both_networks_and_the_ema_identical_on_every_process(tmp_path: Path):
    script = tmp_path / "train_gan.py"
    script.write_text(_GAN_SCRIPT)
    done = subprocess.run([sys.executable, script, tmp_path], capture_output=True, text=True, env=ENV, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for part in ("generator", "ema", "discriminator"):
        # Parameters (gradients averaged by DDP, then the same Adam steps) are identical. Buffers such as
        # batch-norm statistics are broadcast from rank 0 before each step, then updated by each
        # process's own last batch: rank 0's are the ones saved.
        names = {n for n, _ in _parameter_names(part)}
        for name, tensor in ranks[0][part].items():
            if name in names or name.endswith("n_averaged"):
                assert torch.equal(tensor, ranks[1][part][name]), f"{part}.{name} differs between ranks"
    assert not torch.equal(ranks[0]["ema"]["module.project.weight"], ranks[0]["generator"]["project.weight"])


def _parameter_names(part: str) -> list[tuple[str, None]]:
    """The state-dict keys of ``part`` that are parameters (not buffers) in the script's networks."""
    from sightkit.tasks.generate.model import create_discriminator, create_generator

    network = create_discriminator("cgan", 32, 1, 4, 8) if part == "discriminator" else \
        create_generator("cgan", 32, 1, 4, 16, 8)
    prefix = "module." if part == "ema" else ""
    return [(prefix + name, None) for name, _ in network.named_parameters()]
