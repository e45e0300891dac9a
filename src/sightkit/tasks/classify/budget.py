"""The budget recipe: what ``classify train DATA --max-minutes M`` trains when ``--epochs`` is not given.

A few timed training steps of each candidate model on the run's own images (on this machine, at
its present load) give the seconds per epoch; the plan then takes the widest built-in model that
still gets ``WIDE_MODEL_MIN_EPOCHS`` epochs, and as many epochs as fill ``BUDGET_SHARE`` of the
budget, so the learning-rate schedule ends when the time does (before, 30 epochs ran whatever
the budget: a 10-minute CIFAR budget stopped after 4). Options the user gives are never changed.

Example:
    >>> plan = plan_budget(splits, make_config(max_minutes=10), size=32, channels=3)  # doctest: +SKIP
    >>> plan.updates, plan.reasons[0]                                                  # doctest: +SKIP
    ({'epochs': 62}, 'epochs 62: 8.7 s per epoch (measured) fill 90% of the 10-minute budget')
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from sightkit.data.dataset import ImageDataset
from sightkit.data.discover import DatasetSplits
from sightkit.data.transforms import build_train_transform
from sightkit.tasks.classify.config import TrainConfig
from sightkit.tasks.classify.model import create_model, default_normalization, is_builtin

BUDGET_SHARE = 0.9  # of --max-minutes planned for the epochs; the rest absorbs a slower spell of the machine
WIDE_MODEL = "skcnn_base"
WIDE_MODEL_MIN_EPOCHS = 60  # digits, 1 min: skcnn_base 44 epochs val 0.986, skcnn_small 99 epochs val 0.993
STRONG_AUGMENT = "strong"
# val (tuning) splits, skcnn_small, 120 epochs, light -> strong: CIFAR subset 0.735 -> 0.770, LFW subset (65 people)
# 0.723 -> 0.748, PlantVillage 0.983 -> 0.992 (results/classify_budget_tune_aug_*.json); not measured below 120
STRONG_AUGMENT_MIN_EPOCHS = 100
PROBE_WARMUP = 2  # untimed first steps: CIFAR, skcnn_base, 2 threads: 0.85 s, 0.53 s, then 0.23-0.26 s a step
PROBE_STEPS = 5  # timed steps per candidate; their median is the step time
EVAL_COST = 1 / 3  # a forward pass costs about a third of a training step
EPOCH_OVERHEAD_S = 0.1  # checkpoint writes and Lightning's loops (digits: 0.47 s per epoch run, 0.38 s probed)
START_S = 3.0  # setting up the trainer, inside the time limit


@dataclass
class BudgetPlan:
    """The options the budget chose (``updates``) and one line of reason per choice."""

    updates: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    seconds_per_epoch: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "reasons": self.reasons,
                "seconds_per_epoch": {k: round(v, 2) for k, v in self.seconds_per_epoch.items()}}


def wants_plan(config: TrainConfig) -> bool:
    """True when ``--max-minutes`` is given without ``--epochs`` (and the run trains: not ``--few-shot``).

    Example:
        >>> wants_plan(TrainConfig(max_minutes=5)), wants_plan(TrainConfig(max_minutes=5, epochs=10))
        (True, False)
    """
    return config.max_minutes is not None and "epochs" not in config.model_fields_set and not config.few_shot


def unplanned_reason(config: TrainConfig, shards: bool) -> str | None:
    """Why a budget cannot be planned from timed steps of one process on cached images, or None when it can.

    Example:
        >>> unplanned_reason(TrainConfig(max_minutes=5, devices=2), shards=False)
        'the plan times one process; give --epochs for a multi-process run'
    """
    if config.unlabeled:
        return "FixMatch's unlabelled batches are not timed by the plan; give --epochs"
    if config.devices * config.num_nodes > 1 or config.strategy == "ddp":
        return "the plan times one process; give --epochs for a multi-process run"
    if shards:
        return "streamed shards are not timed by the plan; give --epochs"
    return None


def plan_budget(splits: DatasetSplits, config: TrainConfig, size: int, channels: int) -> BudgetPlan:
    """Choose the model (when not given) and the epochs that fit ``config.max_minutes`` on this machine."""
    budget_s = float(config.max_minutes) * 60 * BUDGET_SHARE - START_S
    plan = BudgetPlan()

    def epochs_of(name: str) -> int:
        if name not in plan.seconds_per_epoch:
            plan.seconds_per_epoch[name] = epoch_seconds(splits, config, name, size, channels)
        return int(budget_s // plan.seconds_per_epoch[name])

    model = config.model
    if not {"model", "init"} & config.model_fields_set and is_builtin(model):
        wide_epochs = epochs_of(WIDE_MODEL)
        if wide_epochs >= WIDE_MODEL_MIN_EPOCHS:
            model = plan.updates["model"] = WIDE_MODEL
            plan.reasons.append(f"model {WIDE_MODEL}: the budget gives it {wide_epochs} epochs (>= "
                                f"{WIDE_MODEL_MIN_EPOCHS}, where the wider model wins)")
        else:
            plan.reasons.append(f"model {model}: {WIDE_MODEL} would get only {wide_epochs} epochs "
                                f"(< {WIDE_MODEL_MIN_EPOCHS})")
    epochs, per_epoch = epochs_of(model), plan.seconds_per_epoch[model]
    if "augment" not in config.model_fields_set and epochs >= 1:
        if epochs >= STRONG_AUGMENT_MIN_EPOCHS:
            plan.updates["augment"] = STRONG_AUGMENT
            plan.reasons.append(f"augment {STRONG_AUGMENT}: the budget gives {epochs} epochs (>= "
                                f"{STRONG_AUGMENT_MIN_EPOCHS}, where heavier augmentation wins)")
            strong = config.model_copy(update={"augment": STRONG_AUGMENT})  # its steps cost a little more
            per_epoch = plan.seconds_per_epoch[model] = epoch_seconds(splits, strong, model, size, channels)
            epochs = int(budget_s // per_epoch)
        else:
            plan.reasons.append(f"augment {config.augment}: {epochs} epochs (< {STRONG_AUGMENT_MIN_EPOCHS}) are "
                                f"too few for heavier augmentation to pay off")
    if epochs < 1:
        plan.updates |= {"epochs": 1, "max_minutes": None}
        plan.reasons.append(f"epochs 1: one epoch takes about {per_epoch:.0f} s, more than the "
                            f"{config.max_minutes:g}-minute budget; training one epoch anyway (no time limit)")
    else:
        plan.updates["epochs"] = epochs
        plan.reasons.append(f"epochs {epochs}: {per_epoch:.1f} s per epoch (measured) fill "
                            f"{BUDGET_SHARE:.0%} of the {config.max_minutes:g}-minute budget")
    if config.img_size:
        plan.reasons.append(f"image size {size}: given")
    elif is_builtin(model):
        plan.reasons.append(f"image size {size}: the median shorter side of the images, within 16-64 px for the "
                            "built-in CNNs")
    else:
        plan.reasons.append(f"image size {size}: the images' median shorter side, at most {model}'s native size")
    return plan


def epoch_seconds(splits: DatasetSplits, config: TrainConfig, model_name: str, size: int, channels: int) -> float:
    """Seconds of one epoch of ``model_name``: timed training steps on the run's images, scaled to the
    training split, plus the validation pass."""
    seconds_per_step = _step_seconds(splits.train, config, model_name, size, channels)
    steps = math.ceil(len(splits.train) / config.batch_size)
    val_images = len(splits.val or splits.train)
    return seconds_per_step * (steps + EVAL_COST * val_images / config.batch_size) + EPOCH_OVERHEAD_S


def _step_seconds(samples: Sequence[Any], config: TrainConfig, model_name: str, size: int, channels: int) -> float:
    """Median wall time of a training step at ``config.batch_size``: augmenting the batch, forward, backward and
    the AdamW update, on images of the training split (decoded once, as the run caches them)."""
    mean, std = default_normalization(model_name, channels)
    transform = build_train_transform(config.augment, mean, std, size=size, hflip=config.hflip)
    probe = [samples[i % len(samples)] for i in range(config.batch_size)]
    dataset = ImageDataset(probe, "L" if channels == 1 else "RGB", size, transform)
    loader = DataLoader(dataset, batch_size=config.batch_size)
    with torch.random.fork_rng():  # the run's own random streams are left as they were
        model = create_model(model_name, max(2, 1 + max(s.label for s in samples)), channels).train()
        model = model.to(memory_format=torch.channels_last)  # as the training module runs it
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        timings = []
        for _ in range(PROBE_WARMUP + PROBE_STEPS):  # the first steps (allocations, kernel choice) are not counted
            start = time.perf_counter()
            images, labels = next(iter(loader))
            images = images.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            timings.append(time.perf_counter() - start)
    return statistics.median(timings[PROBE_WARMUP:])
