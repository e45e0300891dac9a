"""Adversarial losses shared by every GAN task (super-resolution, inpainting, synthesis).

Two families, chosen per task by name (:data:`ADVERSARIAL_LOSSES`):

* ``"ragan"``: the relativistic average GAN (RaGAN, Jolicoeur-Martineau 2018; ESRGAN's choice) asks the
discriminator whether a real sample is *more realistic than the average fake*, and the
generator the reverse; both sides then get gradients from real and fake data;
* ``"hinge"``: the hinge loss of SN-GAN / BigGAN / SAGAN (discriminator pushes real logits
  above +1 and fake below -1; the generator raises the fake logits), the usual choice with
  spectral normalisation for synthesis and inpainting.

Example:
    >>> import torch
    >>> real, fake = torch.full((4, 1), 3.0), torch.full((4, 1), -3.0)
    >>> round(float(relativistic_d_loss(real, fake)), 4)
    0.0025
    >>> float(hinge_d_loss(real, fake))
    0.0
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def relativistic_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator RaGAN loss: real above the mean fake, fake below the mean real."""
    return 0.5 * (_bce(real_logits - fake_logits.mean(), 1.0) + _bce(fake_logits - real_logits.mean(), 0.0))


def relativistic_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator RaGAN loss: the mirror image of :func:`relativistic_d_loss` (pass ``real_logits`` detached)."""
    return 0.5 * (_bce(real_logits - fake_logits.mean(), 0.0) + _bce(fake_logits - real_logits.mean(), 1.0))


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: ``relu(1 - real) + relu(1 + fake)``, each averaged."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss: ``-mean(fake)`` (``real_logits`` is not needed and may be None)."""
    return -fake_logits.mean()


# name -> (discriminator loss, generator loss, whether the generator loss needs the real logits)
ADVERSARIAL_LOSSES = {
    "ragan": (relativistic_d_loss, relativistic_g_loss, True),
    "hinge": (hinge_d_loss, hinge_g_loss, False),
}


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))
