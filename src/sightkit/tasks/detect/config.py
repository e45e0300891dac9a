"""The training configuration of a detector, validated by pydantic and saved with each run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from sightkit.engine.distributed import SYNC_BATCHNORM_HELP, DistributedOptions
from sightkit.errors import ConfigError


class DetectConfig(DistributedOptions):
    """Every option of ``sightkit detect train`` / ``Detector.train``.

    Defaults are for learning from scratch on a CPU: the light FCOS (see ``docs/detect.md``
    for the measurement behind the choice), AdamW with warm-up and cosine decay.

    Example:
        >>> DetectConfig().model
        'fcos_resnet18'
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field("fcos_resnet18", description="detector architecture (sightkit detect models)")
    image_size: int = Field(320, ge=32, le=2048, description="longer image side the model works at, px")
    batch_size: int = Field(8, ge=1)
    epochs: int = Field(30, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_steps: int = Field(100, ge=0)
    scale_range: tuple[float, float] = Field((0.75, 1.25), description="scale jitter range of the augmentation")
    color_jitter: float = Field(0.3, ge=0, le=1, description="brightness / contrast / saturation jitter")
    val_fraction: float = Field(0.15, ge=0, lt=1, description="share of images held out for validation")
    strict: bool = Field(False, description="refuse the data on any box problem instead of dropping the box")
    max_minutes: float | None = Field(None, gt=0, description="stop training after this many minutes")
    max_cpu_minutes: float | None = Field(None, gt=0, description="stop after this much CPU time of this process "
                                          "(a fair limit on a machine shared with other jobs)")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    sync_batchnorm: bool = Field(False, description=SYNC_BATCHNORM_HELP)


def make_detect_config(**options: Any) -> DetectConfig:
    """Build a :class:`DetectConfig`, turning a validation failure into a one-line ``ConfigError``.

    Example:
        >>> make_detect_config(model="yolo")
        Traceback (most recent call last):
        sightkit.errors.ModelError: --model 'yolo': choose one of fcos_resnet18, fcos_resnet50, \
fcos_mobilenet_v3, retinanet_mobilenet_v3, retinanet_resnet50, fasterrcnn_mobilenet_v3, \
fasterrcnn_mobilenet_v3_320, fasterrcnn_resnet50, ssdlite_mobilenet_v3
    """
    from sightkit.errors import ModelError
    from sightkit.tasks.detect.model import DETECTORS

    try:
        config = DetectConfig(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "options"
        got = f" (got {first['input']!r})" if first["type"] != "extra_forbidden" else ""
        raise ConfigError(f"{option}: {first['msg']}{got}") from None
    if config.model not in DETECTORS:
        raise ModelError(f"--model {config.model!r}: choose one of {', '.join(DETECTORS)}")
    low, high = config.scale_range
    if not 0 < low <= high:
        raise ConfigError(f"--scale-range {low} {high}: give 0 < min <= max")
    return config
