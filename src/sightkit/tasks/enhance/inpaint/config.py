"""The training configuration of an inpainting model, validated by pydantic and saved per run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from sightkit.engine.distributed import DistributedOptions
from sightkit.errors import ConfigError


class InpaintConfig(DistributedOptions):
    """Every option of ``sightkit enhance train-inpaint`` / ``Inpainter.train``.

    Stage 1 trains the generator with L1 loss on the hole and the known pixels for
    ``epochs``; stage 2 (``gan_epochs`` > 0) continues adversarially against a PatchGAN
    (hinge loss, spectral norm) with the L1 loss kept. An epoch is ``steps`` batches of
    random ``patch`` crops, each with a fresh mask whose hole ratio grows over training.

    Example:
        >>> InpaintConfig().patch
        64
    """

    model_config = ConfigDict(extra="forbid")

    width: int = Field(24, ge=8, le=96, description="generator width (first stage's channels)")
    patch: int = Field(64, ge=16, le=512, description="crop side in px (a multiple of 4)")
    batch_size: int = Field(16, ge=1)
    steps: int = Field(200, ge=1, description="batches per epoch")
    epochs: int = Field(10, ge=0, description="stage 1 (L1) epochs; 0 with --init skips it")
    lr: float = Field(1e-3, gt=0)
    warmup_steps: int = Field(100, ge=0)
    hole_weight: float = Field(1.0, ge=0, description="L1 weight on the hole's pixels")
    valid_weight: float = Field(0.1, ge=0, description="L1 weight on the known pixels")
    max_ratio: float = Field(0.45, gt=0, lt=1, description="largest hole ratio the mask curriculum reaches")
    scale_range: tuple[float, float] = Field((1.0, 3.0), description="crops come from the image shrunk so its "
                                             "shorter side is 1x to 3x the patch (or less, for small images)")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of images held out for validation")
    gan_epochs: int = Field(0, ge=0)
    gan_lr: float = Field(2e-4, gt=0)
    adversarial_weight: float = Field(0.01, ge=0)
    disc_features: int = Field(32, ge=4)
    disc_warmup_steps: int = Field(100, ge=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    max_minutes: float | None = Field(None, gt=0, description="stop each stage after this many minutes")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"


def make_inpaint_config(**options: Any) -> InpaintConfig:
    """Build an :class:`InpaintConfig`, turning a validation failure into a one-line ``ConfigError``.

    Example:
        >>> make_inpaint_config(patch=30)
        Traceback (most recent call last):
        sightkit.errors.ConfigError: --patch 30 must be a multiple of 4
    """
    from sightkit.tasks.enhance.inpaint.model import MULTIPLE

    try:
        config = InpaintConfig(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "options"
        got = f" (got {first['input']!r})" if first["type"] != "extra_forbidden" else ""
        raise ConfigError(f"{option}: {first['msg']}{got}") from None
    if config.patch % MULTIPLE:
        raise ConfigError(f"--patch {config.patch} must be a multiple of {MULTIPLE}")
    return config
