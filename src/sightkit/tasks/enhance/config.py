"""The training configuration of a super-resolution model, validated by pydantic and saved per run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from sightkit.engine.distributed import DistributedOptions
from sightkit.errors import ConfigError


class TrainConfig(DistributedOptions):
    """Every option of ``sightkit enhance train`` / ``Upscaler.train``.

    Stage 1 trains the generator with L1 loss for ``epochs``; stage 2 (``gan_epochs`` > 0)
    fine-tunes it adversarially. An epoch is ``steps`` batches of random crops.

    Example:
        >>> TrainConfig(scale=2).patch
        96
    """

    model_config = ConfigDict(extra="forbid")

    scale: Literal[2, 3, 4] = 4
    arch: str = "lightsr"
    arch_args: dict[str, Any] = Field(default_factory=dict, description="architecture keyword arguments")
    color: Literal["y", "rgb"] = "y"
    degradation: Literal["bicubic", "real"] = "bicubic"
    patch: int = Field(96, ge=8, le=512, description="HR crop side in px (a multiple of the scale)")
    batch_size: int = Field(16, ge=1)
    steps: int = Field(500, ge=1, description="batches per epoch")
    epochs: int = Field(20, ge=0, description="0 skips stage 1 (needs an init bundle)")
    lr: float = Field(1e-3, gt=0)
    warmup_steps: int = Field(100, ge=0)
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of HR images held out; 0 keeps the last weights")
    # Stage 2: adversarial fine-tuning (ESRGAN's loss weights by default).
    gan_epochs: int = Field(0, ge=0)
    gan_lr: float = Field(1e-4, gt=0)
    pixel_weight: float = Field(0.01, ge=0)
    perceptual_weight: float = Field(1.0, ge=0)
    adversarial_weight: float = Field(0.005, ge=0)
    feature_net: str = Field("random", description="'random' (offline default) or a local VGG19 weight file")
    feature_layer: str = Field("conv5_4", description="VGG19 layer for the perceptual loss with a VGG file")
    disc_features: int = Field(32, ge=4, description="width of the discriminator's first stage")
    disc_warmup_steps: int = Field(100, ge=0, description="discriminator-only steps before the generator's GAN loss")
    ema_decay: float = Field(0.999, ge=0, lt=1)
    max_minutes: float | None = Field(None, gt=0, description="stop each stage after this many minutes")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"


def make_config(**options: Any) -> TrainConfig:
    """Build a :class:`TrainConfig`, turning a validation failure into a one-line ``ConfigError``.

    Example:
        >>> make_config(scale=5)
        Traceback (most recent call last):
        sightkit.errors.ConfigError: --scale: Input should be 2, 3 or 4 (got 5)
    """
    try:
        config = TrainConfig(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "options"
        got = f" (got {first['input']!r})" if first["type"] != "extra_forbidden" else ""
        raise ConfigError(f"{option}: {first['msg']}{got}") from None
    if config.patch % config.scale:
        raise ConfigError(f"--patch {config.patch} must be a multiple of --scale {config.scale}")
    return config
