"""Synthesis networks: output shapes over the registry, projection conditioning, bad names."""

from __future__ import annotations

import pytest
import torch

from sightkit.errors import ModelError
from sightkit.tasks.generate.model import ARCHITECTURES, create_discriminator, create_generator


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize(("size", "channels"), [(32, 1), (64, 3)])
def test_generator_and_discriminator_shapes(arch: str, size: int, channels: int) -> None:
    gen = create_generator(arch, size, channels, num_classes=3, z_dim=8, width=4)
    disc = create_discriminator(arch, size, channels, num_classes=3, width=4)
    labels = torch.tensor([0, 1, 2, 1])
    images = gen(torch.randn(4, 8), labels)
    assert images.shape == (4, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert disc(images, labels).shape == (4,)


def test_projection_discriminator_uses_the_label() -> None:
    torch.manual_seed(0)
    disc = create_discriminator("cgan", 32, 1, num_classes=2, width=4)
    images = torch.rand(1, 1, 32, 32).repeat(2, 1, 1, 1)
    logits = disc(images, torch.tensor([0, 1]))
    assert logits[0] != logits[1]


def test_conditional_generator_needs_labels() -> None:
    gen = create_generator("cgan", 32, 1, num_classes=2, z_dim=8, width=4)
    with pytest.raises(ModelError, match="class-conditional"):
        gen(torch.randn(2, 8))


@pytest.mark.parametrize(("args", "message"), [(("nope", 32, 1), "unknown"), (("cgan", 48, 1), "--size 48"),
                                                 (("cgan", 32, 2), "channels")])
def test_bad_architecture_is_a_model_error(args: tuple, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        create_generator(*args)


def test_mode_seeking_loss_punishes_ignoring_the_noise() -> None:
    from sightkit.tasks.generate.gan_module import mode_seeking_loss

    torch.manual_seed(0)
    z, labels = torch.randn(8, 4), torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    varied = torch.randn(8, 1, 4, 4)
    same_per_class = varied[[0, 0, 0, 0, 4, 4, 4, 4]]
    assert mode_seeking_loss(same_per_class, z, labels) > 1000 * mode_seeking_loss(varied, z, labels)
    assert mode_seeking_loss(same_per_class, z, None) < mode_seeking_loss(same_per_class, z, labels)  # across classes
    assert mode_seeking_loss(varied, z, torch.arange(8)) == 0.0  # no pair of one class in the batch
