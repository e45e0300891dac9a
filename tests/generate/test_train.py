"""Training: class conditioning is learnt, a run resumes where it stopped, collapse is warned about."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sightkit.errors import ConfigError, DataError
from sightkit.tasks.generate.api import Generator
from sightkit.tasks.generate.config import make_config
from sightkit.tasks.generate.gan_module import SynthesisModule
from sightkit.tasks.generate.model import create_discriminator, create_generator
from sightkit.tasks.generate.train import CollapseWatch


def _quiet(message: str) -> None:
    pass


def test_conditional_samples_follow_their_class(pattern_data: Path, tmp_path: Path, tiny: dict) -> None:
    options = {**tiny, "width": 8, "disc_width": 8, "epochs": 25, "lr_g": 1e-3, "lr_d": 1e-3}
    gen = Generator.train(pattern_data, out=tmp_path / "run", progress=False, status=_quiet, **options)
    assert gen.classes == ["bright", "dark"]
    bright = np.mean([np.asarray(im) for im in gen.sample(16, "bright")])
    dark = np.mean([np.asarray(im) for im in gen.sample(16, "dark")])
    assert bright > dark + 60, (bright, dark)
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())[-1] == "epoch_024.png"


def test_resume_continues_the_step_counter(pattern_data: Path, tmp_path: Path, tiny: dict) -> None:
    run = tmp_path / "run"
    first = Generator.train(pattern_data, out=run, progress=False, status=_quiet, **tiny)
    steps = first.meta["training"]["steps_run"]
    assert steps == 4  # 32 images, batches of 8
    shutil.rmtree(run / "model")  # as if killed after the epoch's checkpoint, before the bundle
    resumed = Generator.train(pattern_data, out=run, resume=True, epochs=3, progress=False, status=_quiet)
    assert resumed.meta["training"]["steps_run"] == 3 * steps
    assert resumed.meta["training"]["epochs_run"] == 3
    assert resumed.meta["training"]["config"]["width"] == tiny["width"]  # the saved options are kept
    assert {p.name for p in (run / "samples").iterdir()} == {"epoch_000.png", "epoch_001.png", "epoch_002.png"}


def test_resume_without_a_checkpoint_is_a_clear_error(pattern_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no checkpoints/last.ckpt"):
        Generator.train(pattern_data, out=tmp_path / "none", resume=True)


def test_unconditional_model_on_a_flat_folder(tmp_path: Path, pattern_data: Path, tiny: dict) -> None:
    flat = tmp_path / "flat"
    shutil.copytree(pattern_data / "dark", flat)
    with pytest.raises(DataError, match="--unconditional"):
        Generator.train(flat, out=tmp_path / "cond", progress=False, status=_quiet, **tiny)
    assert not (tmp_path / "cond").exists()
    gen = Generator.train(flat, out=tmp_path / "run", conditional=False, progress=False, status=_quiet, **tiny)
    assert not gen.conditional and gen.classes == [] and len(gen.sample(3)) == 3


def test_a_constant_generator_reads_as_collapsed(tiny: dict) -> None:
    import torch

    config = make_config(**tiny)
    generator = create_generator("cgan", 32, 1, 2, tiny["z_dim"], tiny["width"])
    torch.nn.init.zeros_(generator.to_image.weight)  # every sample the same image
    module = SynthesisModule(generator, create_discriminator("cgan", 32, 1, 2, 4), config,
                             real_batch=(torch.rand(16, 1, 32, 32) * 2 - 1, torch.arange(16) % 2))
    assert module.diversity() == 0.0
    module.log = lambda *args, **kwargs: None  # no trainer here to log to
    warnings: list[str] = []
    watch = CollapseWatch(0.5, warnings.append)
    watch.on_train_epoch_end(SimpleNamespace(current_epoch=2), module)
    assert len(warnings) == 1 and warnings[0].startswith("warning: epoch 3: samples are 0% as diverse")
    watch.on_train_epoch_end(SimpleNamespace(current_epoch=3), module)
    assert len(warnings) == 1  # once when it falls below, not every epoch


def test_a_varied_generator_is_not_warned_about_and_a_relapse_is() -> None:
    warnings: list[str] = []
    values = iter([0.9, 0.8, 0.2, 0.7, 0.3])
    module = SimpleNamespace(diversity=lambda: next(values), log=lambda *args, **kwargs: None)
    watch = CollapseWatch(0.5, warnings.append)
    for epoch in range(5):
        watch.on_train_epoch_end(SimpleNamespace(current_epoch=epoch), module)
    assert [w.split(":")[1] for w in warnings] == [" epoch 3", " epoch 5"]
