"""Batch-norm statistics measured on the generator that ships ("standing statistics", BigGAN).

The EMA generator averages the *weights* of the training generator, and its batch-norm running
statistics are an average of the training generator's batch statistics, gathered while the
weights were different. Sampling in eval mode then normalises the EMA network's activations with
statistics of other networks. Recomputing them on the EMA weights themselves (many batches of
fresh noise and labels, forward passes only) removes that mismatch.

Example:
    >>> gen = create_generator("cgan", size=32, channels=1, num_classes=10, width=8)  # doctest: +SKIP
    >>> standing_statistics(gen, batches=50, batch_size=32)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn

from sightkit.tasks.generate.model import SynthGenerator


@torch.no_grad()
def standing_statistics(generator: SynthGenerator, batches: int = 100, batch_size: int = 32, seed: int = 0) -> None:
    """Replace every batch norm's running mean/var of ``generator`` by their average over ``batches``
    batches of its own samples (Gaussian noise; classes drawn uniformly); the generator ends in eval mode.

    Example:
        >>> gen = create_generator("dcgan", size=32, channels=1, width=8)  # doctest: +SKIP
        >>> standing_statistics(gen, batches=10)  # doctest: +SKIP
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
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
