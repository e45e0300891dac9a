"""Standing statistics: batch-norm running stats recomputed on the generator's own samples."""

from __future__ import annotations

import torch

from sightkit.tasks.generate.model import create_generator
from sightkit.tasks.generate.standing_stats import standing_statistics


def test_stale_statistics_are_replaced_by_the_generators_own() -> None:
    torch.manual_seed(0)
    gen = create_generator("cgan", 32, 1, num_classes=3, z_dim=8, width=4)
    norm = gen.project_norm.norm
    norm.running_mean.fill_(5.0)
    norm.running_var.fill_(100.0)  # statistics of some other network
    standing_statistics(gen, batches=20, batch_size=16)
    assert not gen.training
    assert norm.momentum == 0.1  # restored after the cumulative average
    z = torch.randn(256, 8)
    labels = torch.randint(3, (256,))
    features = gen.project(torch.cat([z, gen.class_embed(labels)], dim=1)).view(256, -1, 4, 4)
    assert torch.allclose(norm.running_mean, features.mean(dim=(0, 2, 3)), atol=0.05)
    assert torch.allclose(norm.running_var, features.var(dim=(0, 2, 3)), rtol=0.3)


def test_same_seed_same_statistics() -> None:
    gen = create_generator("dcgan", 32, 1, z_dim=8, width=4)
    standing_statistics(gen, batches=3, seed=1)
    first = gen.blocks[0].norm.running_var.clone()
    standing_statistics(gen, batches=3, seed=1)
    assert torch.equal(first, gen.blocks[0].norm.running_var)
