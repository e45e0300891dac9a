"""The GAN training loop shared by every GAN task: two optimisers, EMA, D warm-up, samples.

A task subclasses :class:`GanModule` and says only what is task-specific: how a batch splits
into generator input and real images, the generator's content losses (pixel, perceptual,
...), and optionally a sample grid. The loop owns the rest:

* alternating generator / discriminator Adam steps with cosine-decayed rates;
* relativistic average (default) or hinge adversarial loss (:mod:`.gan_losses`);
* discriminator warm-up: the first ``disc_warmup_steps`` batches train only the
  discriminator, so a pretrained generator meets a discriminator that already has an opinion;
* an exponential moving average of the generator (``generator_ema``): the weights to ship;
* checkpoint / resume through Lightning (both optimisers, the EMA, the batch counter);
* a sample grid written to ``samples/epoch_NNN.png`` after every epoch (:class:`GanSamples`).

Example:
    >>> trainer = build_gan_trainer("runs/gan", max_epochs=5, monitor="val_psnr")  # doctest: +SKIP
    >>> trainer.fit(MyGanModule(gen, disc), loader)  # doctest: +SKIP
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.optim.swa_utils import AveragedModel

from sightkit.core.fileio import atomic_write_bytes
from sightkit.engine.gan_losses import ADVERSARIAL_LOSSES
from sightkit.engine.schedule import warmup_cosine


class GanModule(pl.LightningModule):
    """Adversarial training with manual optimisation; subclasses define the task's pieces.

    Logs ``g_<name>`` for each content loss, ``g_adv``, ``d_loss`` and ``d_margin`` (mean real
    minus mean fake logit: how sure the discriminator is). ``adversarial_loss`` names an entry
    of :data:`~sightkit.engine.gan_losses.ADVERSARIAL_LOSSES`; ``betas`` are both Adams'.
    Conditional tasks override :meth:`generate` / :meth:`discriminate` to pass labels or masks.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, lr_g: float = 1e-4, lr_d: float = 1e-4,
                 adversarial_weight: float = 5e-3, disc_warmup_steps: int = 0, ema_decay: float = 0.999,
                 adversarial_loss: str = "ragan", betas: tuple[float, float] = (0.9, 0.99)) -> None:
        super().__init__()
        if adversarial_loss not in ADVERSARIAL_LOSSES:
            raise ValueError(f"adversarial_loss must be one of {', '.join(ADVERSARIAL_LOSSES)}, not {adversarial_loss!r}")
        self.d_loss_fn, self.g_loss_fn, self.g_loss_needs_real = ADVERSARIAL_LOSSES[adversarial_loss]
        self.betas = betas
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        self.generator_ema = AveragedModel(generator, avg_fn=ema_with_warmup(ema_decay), use_buffers=True)
        self.generator_ema.requires_grad_(False)  # averaged, never trained: DDP leaves it out of its gradients
        self.lr_g, self.lr_d, self.adversarial_weight = lr_g, lr_d, adversarial_weight
        self.disc_warmup_steps = disc_warmup_steps
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long))

    # --- what a task provides ------------------------------------------------------------
    def split_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(generator input, real images)`` of a batch; default ``batch[0], batch[1]``."""
        return batch[0], batch[1]

    def content_losses(self, fake: torch.Tensor, real: torch.Tensor, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted non-adversarial generator losses by name (e.g. ``pixel``, ``perceptual``)."""
        raise NotImplementedError

    def sample_grid(self) -> np.ndarray | None:
        """An HxWx3 or HxW uint8 image of current samples, or None (no samples)."""
        return None

    def generate(self, inputs: Any) -> torch.Tensor:
        """The generator's images for ``inputs``; override when the generator takes more than one tensor."""
        return self.generator(inputs)

    def discriminate(self, images: torch.Tensor, inputs: Any) -> torch.Tensor:
        """The discriminator's logits for ``images``; override to condition on ``inputs`` (labels, masks)."""
        return self.discriminator(images)

    # --- the loop ----------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()  # type: ignore[misc]
        sched_g, sched_d = self.lr_schedulers()  # type: ignore[misc]
        inputs, real = self.split_batch(batch)
        warming_up = int(self.batches_seen) < self.disc_warmup_steps
        fake = self.generate(inputs)

        if not warming_up:
            self.toggle_optimizer(opt_g)
            losses = self.content_losses(fake, real, inputs)
            real_logits = None
            if self.g_loss_needs_real:
                with torch.no_grad():
                    real_logits = self.discriminate(real, inputs)
            adversarial = self.g_loss_fn(real_logits, self.discriminate(fake, inputs))
            total = sum(losses.values()) + self.adversarial_weight * adversarial
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(total)
            opt_g.step()
            self.untoggle_optimizer(opt_g)
            self.generator_ema.update_parameters(self.generator)
            for name, value in losses.items():
                self.log(f"g_{name}", value, prog_bar=name == "pixel", on_step=True, on_epoch=True, sync_dist=True)
            self.log("g_adv", adversarial, on_step=True, on_epoch=True, sync_dist=True)
            sched_g.step()

        self.toggle_optimizer(opt_d)
        real_logits, fake_logits = self.discriminate(real, inputs), self.discriminate(fake.detach(), inputs)
        d_loss = self.d_loss_fn(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)
        sched_d.step()
        self.batches_seen += 1
        self.log("d_loss", d_loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        self.log("d_margin", (real_logits.mean() - fake_logits.mean()).detach(), on_step=False, on_epoch=True,
                 sync_dist=True)

    def configure_optimizers(self) -> tuple[list, list]:
        total = int(self.trainer.estimated_stepping_batches)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr_g, betas=self.betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr_d, betas=self.betas)
        return [opt_g, opt_d], [warmup_cosine(opt_g, total, 0, min_ratio=0.1), warmup_cosine(opt_d, total, 0, min_ratio=0.1)]


def ema_with_warmup(decay: float) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """An ``AveragedModel`` average whose decay ramps up as ``min(decay, (1 + n) / (10 + n))``.

    A plain 0.999 EMA of a short fine-tune would still be ~80% the initial weights after
    250 updates; the ramp (as in TensorFlow's ``ExponentialMovingAverage`` with
    ``num_updates``) lets the average follow early updates and settle later.

    Example:
        >>> avg = ema_with_warmup(0.999)
        >>> round(float(avg(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0))), 4)
        0.9
    """

    def average(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        n = float(num_averaged)
        rate = min(decay, (1.0 + n) / (10.0 + n))
        return rate * averaged + (1.0 - rate) * current

    return average


class GanSamples(pl.Callback):
    """Writes ``<run_dir>/samples/epoch_NNN.png`` from :meth:`GanModule.sample_grid` after each epoch."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        grid = pl_module.sample_grid() if isinstance(pl_module, GanModule) else None
        if grid is None or not trainer.is_global_zero:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        Image.fromarray(grid).save(buffer, format="PNG")
        atomic_write_bytes(self.folder / f"epoch_{trainer.current_epoch:03d}.png", buffer.getvalue())


def build_gan_trainer(run_dir: str | Path, *, max_epochs: int, monitor: str, mode: str = "max", device: str = "auto",
                      max_minutes: float | None = None, progress: bool = True, resuming: bool = False,
                      **distributed: Any) -> pl.Trainer:
    """:func:`~sightkit.engine.trainer.build_trainer` plus the :class:`GanSamples` callback.

    ``distributed`` are build_trainer's ``devices``, ``num_nodes``, ``strategy`` and
    ``sync_batchnorm`` (see :func:`~sightkit.engine.distributed.trainer_options`). Under DDP
    Lightning wraps the whole module in one ``DistributedDataParallel``; with manual
    optimisation it prepares the gradient reduction before each ``manual_backward``, so the
    generator's and the discriminator's gradients are each averaged over the processes, every
    process steps both optimisers alike, and the EMA generator, updated from identical weights,
    stays identical on every process (buffers such as batch-norm statistics are broadcast from
    rank 0 at each step).
    """
    from sightkit.engine.distributed import expected_world_size
    from sightkit.engine.trainer import build_trainer

    world = expected_world_size(distributed.get("devices", 1), distributed.get("num_nodes", 1))
    if distributed.get("strategy") == "ddp" or world > 1:
        # Each optimiser's step backpropagates through one network while toggle_optimizer freezes the other:
        # DDP must be told that some parameters get no gradient in a backward pass.
        distributed["strategy"] = "ddp_find_unused_parameters_true"
    trainer = build_trainer(run_dir, max_epochs=max_epochs, monitor=monitor, mode=mode, device=device,
                            max_minutes=max_minutes, progress=progress, resuming=resuming, **distributed)
    trainer.callbacks.append(GanSamples(Path(run_dir) / "samples"))
    return trainer
