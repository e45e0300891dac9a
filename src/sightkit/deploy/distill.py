"""Knowledge distillation: train a smaller student to match a trained teacher's soft labels.

Loss (Hinton et al., 2015): ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
+ (1 - alpha) * cross-entropy(student, labels)``. The ``T^2`` factor keeps the soft-label
gradients on the scale of the hard-label ones. The student takes the teacher's
preprocessing (input size, channels, mean/std), so both see the same tensors.

Example:
    >>> result = distill_bundle("runs/r18/model", "skcnn_small", "data/cifar", "runs/distill")  # doctest: +SKIP
    >>> result.summary["student_accuracy"], result.summary["teacher_accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sightkit.core.bundle import read_meta
from sightkit.deploy.finetune import check_data, finetune, finetune_config
from sightkit.errors import ConfigError, DeployError
from sightkit.tasks.classify.config import TrainConfig
from sightkit.tasks.classify.lit_module import ClassificationModule
from sightkit.tasks.classify.model import create_model
from sightkit.tasks.classify.predict import TASK, Predictor

log = logging.getLogger(__name__)


class DistillationModule(ClassificationModule):
    """:class:`ClassificationModule` whose training loss adds the teacher's soft labels.

    The teacher stays frozen and in eval mode (its BatchNorm statistics never move).
    Validation is the student's plain accuracy.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, num_classes: int, config: TrainConfig,
                 temperature: float = 4.0, alpha: float = 0.7) -> None:
        super().__init__(student, num_classes, config)
        self.teacher, self.temperature, self.alpha = teacher.eval(), temperature, alpha
        self.teacher.requires_grad_(False)

    def train(self, mode: bool = True) -> DistillationModule:
        super().train(mode)
        self.teacher.eval()
        return self

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = self.mix(*batch)
        logits = self.model(images)
        with torch.no_grad():
            teacher_logits = self.teacher(images)
        loss = distillation_loss(logits, teacher_logits, targets, self.temperature, self.alpha,
                                 self.config.label_smoothing)
        hard = targets.argmax(1) if targets.ndim == 2 else targets
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        self.log("train_acc", (logits.argmax(1) == hard).float().mean(), on_step=False, on_epoch=True)
        return loss


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor, temperature: float,
                      alpha: float, label_smoothing: float = 0.0) -> torch.Tensor:
    """``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, targets)``.

    Example:
        >>> z = torch.tensor([[2.0, 0.0]])
        >>> float(distillation_loss(z, z, torch.tensor([0]), 4.0, 1.0))
        0.0
    """
    soft = F.kl_div(F.log_softmax(student / temperature, 1), F.log_softmax(teacher / temperature, 1),
                    reduction="batchmean", log_target=True) * temperature**2
    hard = F.cross_entropy(student, targets, label_smoothing=label_smoothing)
    return alpha * soft + (1 - alpha) * hard


@dataclass
class DistillResult:
    """The student bundle and a summary: teacher and student accuracy on the held-out split, sizes."""

    bundle_path: Path
    summary: dict[str, Any]


def distill_bundle(teacher: str | Path, student: str, data: str | Path, out: str | Path, *, epochs: int = 10,
                   temperature: float = 4.0, alpha: float = 0.7, lr: float | None = None,
                   max_minutes: float | None = None, progress: bool = True,
                   status: Callable[[str], None] = log.info) -> DistillResult:
    """Distill the ``teacher`` bundle into a new ``student`` architecture trained on ``data``."""
    if temperature <= 0 or not 0.0 <= alpha <= 1.0:
        raise ConfigError("--temperature must be > 0 and --alpha in [0, 1]")
    meta = read_meta(teacher)
    if meta["task"] != TASK:
        raise DeployError(f"{teacher}: distillation supports '{TASK}' bundles, not '{meta['task']}' yet")
    config = finetune_config(meta, model=student, epochs=epochs, lr=lr, max_minutes=max_minutes)
    check_data(data)
    arch = meta["architecture"]
    model = create_model(student, num_classes=len(meta["classes"]), in_chans=arch["in_chans"])
    source = Predictor.from_bundle(teacher)
    summary: dict[str, Any] = {"teacher": str(teacher), "teacher_architecture": arch["name"], "student": student,
                               "temperature": temperature, "alpha": alpha,
                               "teacher_params": _params(source.model), "student_params": _params(model)}
    new_meta = {k: v for k, v in meta.items()
                if k not in ("metrics", "pruning", "format_version", "sightkit_version", "created")}
    new_meta["architecture"] = {"name": student, "in_chans": arch["in_chans"], "num_classes": len(source.classes)}
    new_meta["distillation"] = dict(summary)
    n = len(source.classes)
    result = finetune(model, data, new_meta, out, config, progress=progress, status=status,
                      module_factory=lambda m, c: DistillationModule(m, source.model, n, c, temperature, alpha))
    from sightkit.tasks.classify.evaluate import evaluate

    summary["teacher_accuracy"] = evaluate(Predictor.from_bundle(teacher), result.held_out)["accuracy"]
    summary["student_accuracy"] = result.report["accuracy"]
    summary["split"] = result.report["split"]
    return DistillResult(result.bundle_path, summary)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
