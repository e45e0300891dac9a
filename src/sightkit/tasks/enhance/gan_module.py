"""Stage 2 of super-resolution training: ESRGAN-style fine-tuning on the shared GAN engine."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sightkit.engine.gan import GanModule
from sightkit.tasks.enhance.config import TrainConfig
from sightkit.tasks.enhance.lit_module import channels_last
from sightkit.tasks.enhance.metrics import y_psnr_tensor
from sightkit.tasks.enhance.model import create_discriminator
from sightkit.tasks.enhance.perceptual import build_feature_net

_SAMPLES = 4  # images in the per-epoch sample grid
_SAMPLE_SIDE = 96  # HR px shown per sample


class SrGanModule(GanModule):
    """Generator loss = ``pixel_weight`` L1 + ``perceptual_weight`` feature L1 + ``adversarial_weight`` RaGAN.

    Validation (``val_psnr``) and the sample grid (bicubic | EMA generator | HR) use the EMA
    generator, the one that is saved.
    """

    def __init__(self, generator: nn.Module, config: TrainConfig,
                 sample_batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        channels = 1 if config.color == "y" else 3
        discriminator = create_discriminator("patch_sn", channels, features=config.disc_features)
        super().__init__(generator.to(memory_format=torch.channels_last),
                         discriminator.to(memory_format=torch.channels_last),
                         lr_g=config.gan_lr, lr_d=config.gan_lr, adversarial_weight=config.adversarial_weight,
                         disc_warmup_steps=config.disc_warmup_steps, ema_decay=config.ema_decay)
        self.config = config
        self.features = build_feature_net(config.feature_net, config.feature_layer, channels)
        self._samples = None if sample_batch is None else tuple(t[:_SAMPLES] for t in sample_batch)

    def split_batch(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = batch
        return channels_last(lr), channels_last(hr)

    def content_losses(self, fake: torch.Tensor, real: torch.Tensor, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        losses = {"pixel": self.config.pixel_weight * F.l1_loss(fake, real)}
        if self.config.perceptual_weight:
            fake_features, real_features = self.features(fake), self.features(real)
            perceptual = sum(F.l1_loss(f, r.detach()) for f, r in zip(fake_features, real_features))
            perceptual = perceptual / len(fake_features)
            losses["perceptual"] = self.config.perceptual_weight * perceptual
        return losses

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        lr, hr = batch
        sr = self.generator_ema(channels_last(lr))
        self.log("val_psnr", y_psnr_tensor(sr, hr, self.config.scale), prog_bar=True, on_epoch=True, batch_size=1,
                 sync_dist=True)

    @torch.no_grad()
    def sample_grid(self) -> np.ndarray | None:
        if self._samples is None:
            return None
        lr, hr = (t.to(self.device) for t in self._samples)
        side = min(_SAMPLE_SIDE, hr.shape[-1], hr.shape[-2])
        lr = lr[..., : side // self.config.scale, : side // self.config.scale]
        hr = hr[..., :side, :side]
        bicubic = F.interpolate(lr, scale_factor=self.config.scale, mode="bicubic", align_corners=False)
        rows = [torch.cat([bicubic[i], self.generator_ema(lr[i:i + 1])[0], hr[i]], dim=-1) for i in range(len(lr))]
        grid = torch.cat(rows, dim=-2).clamp(0, 1).mul(255).round().byte().cpu()
        return grid[0].numpy() if grid.shape[0] == 1 else grid.permute(1, 2, 0).numpy()
