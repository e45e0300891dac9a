"""The two training stages of inpainting as Lightning modules: L1, then adversarial on the GAN engine.

Both draw the training masks themselves (:func:`training_masks`): strokes and boxes whose
hole ratio ceiling grows from 15% to ``max_ratio`` over the run, seeded by the step, so a
resumed run draws the same masks. Both log ``val_hole_psnr``: PSNR inside the fixed 20-30%
validation holes of the composite (known pixels kept), the number the evaluation reports.

Example:
    >>> masks = training_masks(4, 32, 32, step=0, total=100, max_ratio=0.45, seed=0)
    >>> masks.shape
    torch.Size([4, 1, 32, 32])
"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn

from sightkit.engine.gan import GanModule
from sightkit.engine.schedule import warmup_cosine
from sightkit.tasks.enhance.inpaint.config import InpaintConfig
from sightkit.tasks.enhance.inpaint.masks import curriculum_ratio, random_mask
from sightkit.tasks.enhance.inpaint.model import composite, create_inpaint_discriminator, telea_fill

_SAMPLES = 4  # images in the per-epoch sample grid of the GAN stage


def training_masks(count: int, height: int, width: int, step: int, total: int, max_ratio: float,
                   seed: int, stream: int = 0) -> torch.Tensor:
    """``count`` masks (``count x 1 x H x W``) for training step ``step`` of ``total``.

    ``stream`` (the DDP rank) gives each process its own masks for the same step.
    """
    rng = np.random.default_rng((seed, step) if stream == 0 else (seed, step, stream))
    progress = step / max(1, total)
    masks = [random_mask(height, width, curriculum_ratio(progress, rng, end=max_ratio), rng) for _ in range(count)]
    return torch.from_numpy(np.stack(masks))[:, None]


def masked_l1(fill: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, hole_weight: float,
              valid_weight: float) -> torch.Tensor:
    """L1 averaged over the hole (times ``hole_weight``) plus over the known pixels (times ``valid_weight``)."""
    error = (fill - real).abs()
    hole = (error * mask).sum() / (mask.sum() * real.shape[1]).clamp(min=1.0)
    valid = (error * (1 - mask)).sum() / ((1 - mask).sum() * real.shape[1]).clamp(min=1.0)
    return hole_weight * hole + valid_weight * valid


def hole_psnr(output: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR (dB, 0-1 range) over the hole pixels of a batch."""
    mse = (((output - real) ** 2) * mask).sum() / (mask.sum() * real.shape[1]).clamp(min=1.0)
    return 10 * torch.log10(1.0 / mse.clamp(min=1e-10))


class InpaintPixelModule(pl.LightningModule):
    """Stage 1: the generator alone, :func:`masked_l1` loss, Adam with warm-up + cosine decay."""

    def __init__(self, generator: nn.Module, config: InpaintConfig) -> None:
        super().__init__()
        self.generator, self.config = generator, config

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        real = batch
        mask = _masks_for(self, real).to(real)
        fill = self.generator(real, mask, telea_fill(real * (1 - mask), mask))
        loss = masked_l1(fill, real, mask, self.config.hole_weight, self.config.valid_weight)
        self.log("train_l1", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, mask = batch
        output = composite(real, self.generator(real, mask, telea_fill(real * (1 - mask), mask)), mask)
        self.log("val_hole_psnr", hole_psnr(output, real, mask), prog_bar=True, on_epoch=True, batch_size=1,
                 sync_dist=True)

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.Adam(self.generator.parameters(), lr=self.config.lr)
        scheduler = warmup_cosine(optimizer, int(self.trainer.estimated_stepping_batches), self.config.warmup_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class InpaintGanModule(GanModule):
    """Stage 2: hinge GAN; the discriminator sees the composite (or the real image) and the mask.

    Generator loss = :func:`masked_l1` + ``adversarial_weight`` x hinge loss. Validation and
    the sample grid (masked input | EMA generator's fill | original) use the EMA generator,
    the one that is saved.
    """

    def __init__(self, generator: nn.Module, config: InpaintConfig,
                 sample_batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        discriminator = create_inpaint_discriminator(generator.channels, config.disc_features)
        super().__init__(generator, discriminator, lr_g=config.gan_lr, lr_d=config.gan_lr,
                         adversarial_weight=config.adversarial_weight, disc_warmup_steps=config.disc_warmup_steps,
                         ema_decay=config.ema_decay, adversarial_loss="hinge", betas=(0.5, 0.999))
        self.config = config
        self._samples = None if sample_batch is None else tuple(t[:_SAMPLES] for t in sample_batch)

    def split_batch(self, batch: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        real = batch
        return (real, _masks_for(self, real).to(real)), real

    def generate(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        image, mask = inputs
        return composite(image, self.generator(image, mask, telea_fill(image * (1 - mask), mask)), mask)

    def discriminate(self, images: torch.Tensor, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.discriminator(torch.cat([images, inputs[1]], dim=1))

    def content_losses(self, fake: torch.Tensor, real: torch.Tensor, inputs: tuple) -> dict[str, torch.Tensor]:
        # ``fake`` is the composite, equal to ``real`` outside the hole: the hole term carries the loss.
        return {"pixel": masked_l1(fake, real, inputs[1], self.config.hole_weight, 0.0)}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, mask = batch
        output = composite(real, self.generator_ema(real, mask, telea_fill(real * (1 - mask), mask)), mask)
        self.log("val_hole_psnr", hole_psnr(output, real, mask), prog_bar=True, on_epoch=True, batch_size=1,
                 sync_dist=True)

    @torch.no_grad()
    def sample_grid(self) -> np.ndarray | None:
        if self._samples is None:
            return None
        real, mask = (t.to(self.device) for t in self._samples)
        output = composite(real, self.generator_ema(real, mask, telea_fill(real * (1 - mask), mask)), mask)
        rows = torch.cat([real * (1 - mask), output, real], dim=3)  # per sample: masked | filled | original
        grid = torch.cat(list(rows), dim=1)
        return (grid.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def _masks_for(module: pl.LightningModule, real: torch.Tensor) -> torch.Tensor:
    config: InpaintConfig = module.config
    total = max(1, int(module.trainer.estimated_stepping_batches)) if module._trainer is not None else 1
    step = int(module.batches_seen) if isinstance(module, GanModule) else int(module.global_step)
    return training_masks(real.shape[0], real.shape[2], real.shape[3], step, total, config.max_ratio, config.seed,
                          stream=module.global_rank)
