"""The training configuration of a classifier, validated by pydantic and saved with every run."""

from __future__ import annotations

import os
from typing import Literal

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sightkit.errors import ConfigError


class TrainConfig(BaseModel):
    """Every option of ``sightkit classify train`` / ``Classifier.train``.

    Example:
        >>> TrainConfig(model="resnet18", epochs=10).lr
        0.002
    """

    model_config = ConfigDict(extra="forbid")

    model: str = "skcnn_small"
    pretrained: bool = False
    weights: str | None = None
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    img_size: int | None = Field(None, ge=8, le=1024, description="input side; default from the data")
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.05, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    warmup_epochs: float = Field(1.0, ge=0)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    mixup: float = Field(0.0, ge=0, description="MixUp alpha; 0 disables")
    cutmix: float = Field(0.0, ge=0, description="CutMix alpha; 0 disables")
    augment: Literal["none", "light", "strong"] = "light"
    hflip: bool = True
    balance: bool = Field(False, description="class-balanced loss weights (inverse class frequency)")
    patience: int | None = Field(None, ge=1, description="early-stopping patience in epochs")
    max_minutes: float | None = Field(None, gt=0, description="training budget: without --epochs, the epochs (and "
                                                               "the model, when not given) are chosen to fill it")
    ema: bool = Field(False, description="validate, checkpoint and ship an exponential moving average of the weights "
                                         "(off by default: no gain on the tuning splits of CIFAR and PlantVillage)")
    ema_decay: float | None = Field(None, gt=0, lt=1, description="EMA decay per step; default: an average over "
                                                                  "5% of the run's steps")
    val_fraction: float = Field(0.2, ge=0, lt=1)
    test_fraction: float = Field(0.0, ge=0, lt=1)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    workers: int | None = Field(None, ge=0, description="DataLoader workers; default 0 for in-memory data")
    devices: int = Field(1, ge=1, description="processes (GPUs, or CPU processes) per node; DDP when above 1")
    num_nodes: int = Field(1, ge=1, description="machines of a multi-node DDP run")
    strategy: Literal["auto", "ddp"] = Field("auto", description="Lightning strategy; ddp also for torchrun/SLURM")
    sync_batchnorm: bool = Field(False, description="batch-norm statistics over the global batch (SyncBatchNorm; "
                                                    "GPUs only)")
    synthetic: int = Field(0, ge=0, description="generated images per class added to the training split")
    generator: str | None = Field(None, description="class-conditional generate bundle that --synthetic samples")
    # transfer and few-shot (tasks/classify/transfer.py, fewshot.py)
    init: str | None = Field(None, description="classify bundle or run checkpoint to start from")
    freeze_backbone: bool = Field(False, description="train the classification layer alone")
    backbone_lr_scale: float | None = Field(None, gt=0, description="backbone lr / lr; default 0.1 with init, else 1")
    few_shot: bool = Field(False, description="prototype classifier on the init model's embeddings; no training")
    # medical operating point (tasks/classify/medical.py)
    target_sensitivity: float | None = Field(None, gt=0, le=1, description="threshold chosen on val for this "
                                                                          "sensitivity, stored in the bundle")
    positive_class: str | None = Field(None, description="the finding class; default by the naming rule")
    # FixMatch semi-supervised training (tasks/classify/fixmatch.py); defaults are the paper's
    unlabeled: str | None = Field(None, description="folder of unlabelled images for FixMatch")
    unlabeled_ratio: int = Field(7, ge=1, description="unlabelled images per labelled image in a batch (mu)")
    unlabeled_conf: float = Field(0.95, gt=0, le=1, description="confidence that makes a pseudo-label")
    lambda_u: float = Field(1.0, ge=0, description="weight of the unlabelled loss (lambda_u)")

    @field_validator("unlabeled", mode="before")
    @classmethod
    def _path_as_text(cls, value: Any) -> Any:
        """A folder given as a ``Path`` is kept as text, as the saved config holds it."""
        return str(value) if isinstance(value, os.PathLike) else value


def make_config(**options: Any) -> TrainConfig:
    """Build a :class:`TrainConfig`, turning a validation failure into a one-line ``ConfigError``.

    Example:
        >>> make_config(epochs=0)
        Traceback (most recent call last):
        sightkit.errors.ConfigError: --epochs: Input should be greater than or equal to 1 (got 0)
    """
    try:
        config = TrainConfig(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "options"
        got = f" (got {first['input']!r})" if first["type"] != "extra_forbidden" else ""
        raise ConfigError(f"{option}: {first['msg']}{got}") from None
    if config.synthetic and not config.generator:
        raise ConfigError(f"--synthetic {config.synthetic} needs --generator BUNDLE (a class-conditional "
                          "'sightkit generate' bundle)")
    if config.generator and not config.synthetic:
        raise ConfigError("--generator is used only with --synthetic N (generated images per class)")
    if not config.unlabeled:
        for name in ("unlabeled_ratio", "unlabeled_conf", "lambda_u"):
            if getattr(config, name) != TrainConfig.model_fields[name].default:
                raise ConfigError(f"--{name.replace('_', '-')} is used only with --unlabeled FOLDER")
    if config.ema_decay is not None and not config.ema:
        raise ConfigError("--ema-decay is used only with --ema")
    _check_transfer(config)
    return config


def _check_transfer(config: TrainConfig) -> None:
    """The option combinations of ``--init``, ``--freeze-backbone`` and ``--few-shot`` that make sense."""
    if config.init and (config.weights or config.pretrained):
        raise ConfigError("--init already gives the starting weights; drop --weights / --pretrained")
    if config.freeze_backbone and not (config.init or config.weights or config.pretrained):
        raise ConfigError("--freeze-backbone trains the head alone, so the backbone must be trained already: "
                          "give --init BUNDLE (or --weights / --pretrained)")
    if config.few_shot and not config.init:
        raise ConfigError("--few-shot builds class prototypes from a trained model's embeddings: give --init BUNDLE")
    if config.few_shot and (config.freeze_backbone or config.backbone_lr_scale is not None):
        raise ConfigError("--few-shot trains nothing; drop --freeze-backbone / --backbone-lr-scale")
    if config.few_shot and (config.unlabeled or config.target_sensitivity is not None or config.devices > 1):
        raise ConfigError("--few-shot builds prototypes without training: it takes no --unlabeled, --sensitivity "
                          "or --devices; train with --init instead for those")
