"""Synthesis on the shared GAN engine: noise (and labels) in, hinge loss, EMA generator out.

The generator's input is ``(z, labels)``: fresh Gaussian noise per batch and, for a conditional
model, the real batch's labels (so the discriminator sees real and fake images of the same
classes). :meth:`discriminate` hands those labels to the projection discriminator. There are
no content losses: the generator learns from the adversarial loss alone.

Example:
    >>> module = SynthesisModule(gen, disc, config, real_batch=(images, labels))  # doctest: +SKIP
    >>> trainer.fit(module, loader)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sightkit.engine.gan import GanModule
from sightkit.tasks.generate.config import TrainConfig
from sightkit.tasks.generate.diffaugment import diff_augment, parse_policy
from sightkit.tasks.generate.metrics import diversity_ratio

GRID_COLUMNS = 8
_GRID_ROWS_UNCONDITIONAL = 8
_MAX_GRID_CLASSES = 16  # a conditional grid shows one row per class, up to this many
_DIVERSITY_SAMPLES = 64


class SynthesisModule(GanModule):
    """A DCGAN / projection cGAN trained with the hinge loss; ``generator_ema`` is the model to ship.

    ``real_batch`` (float images in [-1, 1], labels) is the reference for the diversity measure.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, config: TrainConfig,
                 real_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        super().__init__(generator, discriminator, lr_g=config.lr_g, lr_d=config.lr_d, adversarial_weight=1.0,
                         ema_decay=config.ema_decay, adversarial_loss="hinge", betas=(config.beta1, config.beta2))
        self.config = config
        self.conditional = bool(generator.num_classes)
        self.augmentations = parse_policy(config.diffaugment)
        images, labels = real_batch
        self.register_buffer("real_images", images[:_DIVERSITY_SAMPLES].clone(), persistent=False)
        self.register_buffer("real_labels", labels[:_DIVERSITY_SAMPLES].clone(), persistent=False)
        noise = torch.Generator().manual_seed(config.seed)
        n = max(_DIVERSITY_SAMPLES, GRID_COLUMNS * _GRID_ROWS_UNCONDITIONAL)
        self.register_buffer("fixed_z", torch.randn(n, generator.z_dim, generator=noise), persistent=False)
        classes = min(generator.num_classes, _MAX_GRID_CLASSES) if self.conditional else 1
        self.register_buffer("grid_labels", torch.arange(classes).repeat_interleave(GRID_COLUMNS), persistent=False)

    def split_batch(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[tuple, torch.Tensor]:
        images, labels = batch
        z = torch.randn(len(images), self.generator.z_dim, device=images.device)
        return (z, labels if self.conditional else None), images

    def generate(self, inputs: tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
        z, labels = inputs
        return self.generator(z, labels)

    def discriminate(self, images: torch.Tensor, inputs: tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
        """Logits of the (DiffAugmented, when ``config.diffaugment`` says so) images; real and fake
        pass here alike, in the discriminator's steps and the generator's."""
        return self.discriminator(diff_augment(images, self.augmentations), inputs[1])

    def content_losses(self, fake: torch.Tensor, real: torch.Tensor, inputs: tuple) -> dict[str, torch.Tensor]:
        if not self.config.mode_seeking:
            return {}
        return {"mode_seeking": self.config.mode_seeking * mode_seeking_loss(fake, *inputs)}

    @torch.no_grad()
    def ema_samples(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images of the EMA generator in eval mode (its averaged batch-norm statistics)."""
        ema = self.generator_ema.module
        was_training = ema.training
        ema.eval()
        try:
            return ema(z, labels)
        finally:
            ema.train(was_training)

    def diversity(self) -> float:
        """Diversity of EMA samples from fixed noise as a share of the real images' (1 = as varied).

        A conditional model is measured within classes: its samples take the real images' labels.
        """
        n = min(len(self.real_images), len(self.fixed_z))
        labels = self.real_labels[:n] if self.conditional else None
        return diversity_ratio(self.ema_samples(self.fixed_z[:n], labels), self.real_images[:n], labels)

    def sample_grid(self) -> np.ndarray | None:
        if self.conditional:
            labels = self.grid_labels
            z = self.fixed_z[:GRID_COLUMNS].repeat(len(labels) // GRID_COLUMNS, 1)  # same noise in each column
        else:
            labels, z = None, self.fixed_z[:GRID_COLUMNS * _GRID_ROWS_UNCONDITIONAL]
        return image_grid(self.ema_samples(z, labels), GRID_COLUMNS)


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """MSGAN's regulariser (Mao et al. 2019): ``1 / (eps + mean |G(z1) - G(z2)| / mean |z1 - z2|)``.

    Pairs are the batch's pairs of samples of the same class (all pairs when unconditional), so
    a generator that ignores its noise within a class pays for it.
    """
    pairs = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
    if labels is not None:
        pairs &= labels[:, None] == labels[None, :]
    if not pairs.any():
        return fake.sum() * 0.0
    images = torch.cdist(fake.flatten(1), fake.flatten(1), p=1)[pairs].mean() / fake[0].numel()
    noise = torch.cdist(z, z, p=1)[pairs].mean() / z.shape[1]
    return 1.0 / (images / noise + 1e-5)


def image_grid(images: torch.Tensor, columns: int, pad: int = 2) -> np.ndarray:
    """Images in [-1, 1] (NCHW) tiled row by row with ``pad`` px white gaps: HxW or HxWx3 uint8."""
    pixels = images.detach().float().cpu().add(1).mul(127.5).round().clamp(0, 255).byte()
    n, channels, height, width = pixels.shape
    rows = -(-n // columns)
    grid = torch.full((channels, rows * (height + pad) + pad, columns * (width + pad) + pad), 255, dtype=torch.uint8)
    for i, image in enumerate(pixels):
        top, left = pad + (i // columns) * (height + pad), pad + (i % columns) * (width + pad)
        grid[:, top:top + height, left:left + width] = image
    return grid[0].numpy() if channels == 1 else grid.permute(1, 2, 0).numpy()
