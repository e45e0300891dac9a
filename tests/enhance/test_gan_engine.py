"""The shared GAN loop: both networks learn, EMA follows, D warms up first, state survives a checkpoint."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sightkit.engine.gan import GanModule, build_gan_trainer
from sightkit.engine.gan_losses import hinge_d_loss, hinge_g_loss, relativistic_d_loss, relativistic_g_loss


class _ToyGan(GanModule):
    def content_losses(self, fake, real, inputs):
        return {"pixel": F.l1_loss(fake, real)}

    def sample_grid(self):
        return np.zeros((4, 4), np.uint8)


def _toy(warmup: int = 0) -> _ToyGan:
    torch.manual_seed(0)
    generator = nn.Conv2d(1, 1, 3, padding=1)
    discriminator = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    return _ToyGan(generator, discriminator, lr_g=1e-2, lr_d=1e-2, disc_warmup_steps=warmup, ema_decay=0.9)


def _loader() -> DataLoader:
    x = torch.rand(8, 1, 12, 12)
    return DataLoader(TensorDataset(x, x.flip(-1)), batch_size=4)


def _fit(module: GanModule, run: Path, epochs: int, ckpt: str | None = None) -> pl.Trainer:
    trainer = build_gan_trainer(run, max_epochs=epochs, monitor="g_pixel", mode="min", device="cpu", progress=False)
    trainer.fit(module, _loader(), ckpt_path=ckpt)
    return trainer


def test_relativistic_losses_reward_the_right_side() -> None:
    real, fake = torch.full((3,), 2.0), torch.full((3,), -2.0)
    assert relativistic_d_loss(real, fake) < relativistic_d_loss(fake, real)
    assert relativistic_g_loss(real, fake) > relativistic_g_loss(fake, real)


def test_hinge_losses_saturate_beyond_the_margin() -> None:
    assert float(hinge_d_loss(torch.full((3,), 1.5), torch.full((3,), -1.5))) == 0.0
    assert float(hinge_d_loss(torch.zeros(3), torch.zeros(3))) == 2.0
    assert hinge_g_loss(None, torch.full((3,), 2.0)) < hinge_g_loss(None, torch.full((3,), -2.0))


def test_unknown_adversarial_loss_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="hinge"):
        _ToyGan(nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 1), adversarial_loss="wgan")


class _ConditionalToyGan(_ToyGan):
    """A discriminator that sees the generator's input beside the image (as an inpainting one sees the mask)."""

    def discriminate(self, images, inputs):
        return self.discriminator(torch.cat([images, inputs], dim=1))


def test_hinge_training_with_a_conditional_discriminator(tmp_path: Path) -> None:
    torch.manual_seed(0)
    discriminator = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    module = _ConditionalToyGan(nn.Conv2d(1, 1, 3, padding=1), discriminator, lr_g=1e-2, lr_d=1e-2,
                                adversarial_loss="hinge", betas=(0.0, 0.9))
    d0 = discriminator[0].weight.detach().clone()
    _fit(module, tmp_path / "run", epochs=1)
    assert discriminator[0].weight.shape[1] == 2 and not torch.equal(discriminator[0].weight, d0)
    assert int(module.batches_seen) == 2


def test_both_networks_and_the_ema_move(tmp_path: Path) -> None:
    module = _toy()
    g0 = module.generator.weight.detach().clone()
    d0 = module.discriminator[0].weight.detach().clone()
    _fit(module, tmp_path / "run", epochs=2)
    assert not torch.equal(module.generator.weight, g0)
    assert not torch.equal(module.discriminator[0].weight, d0)
    ema = module.generator_ema.module.weight
    assert not torch.equal(ema, g0) and not torch.equal(ema, module.generator.weight)
    assert int(module.batches_seen) == 4
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["epoch_000.png", "epoch_001.png"]


def test_discriminator_warmup_keeps_the_generator_fixed(tmp_path: Path) -> None:
    module = _toy(warmup=100)
    g0 = module.generator.weight.detach().clone()
    d0 = module.discriminator[0].weight.detach().clone()
    _fit(module, tmp_path / "run", epochs=1)
    assert torch.equal(module.generator.weight, g0)
    assert not torch.equal(module.discriminator[0].weight, d0)


def test_resume_restores_ema_and_counter(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fit(_toy(), run, epochs=1)
    module = _toy()
    _fit(module, run, epochs=2, ckpt=str(run / "checkpoints" / "last.ckpt"))
    assert int(module.batches_seen) == 4
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert any(k.startswith("generator_ema.") for k in state) and int(state["batches_seen"]) == 4
