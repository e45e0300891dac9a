"""Build a Lightning ``Trainer`` with sightkit's defaults: checkpoints, logs, progress, devices.

Every run folder gets ``checkpoints/last.ckpt`` (written atomically each epoch, so a killed
run resumes from it), ``checkpoints/best.ckpt`` (best value of ``monitor``), and CSV +
TensorBoard logs under ``logs/``. Epochs are numbered from 1 in the logs and the progress
bar, as in every sightkit message.

Example:
    >>> trainer = build_trainer("runs/x", max_epochs=10, monitor="val_acc")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import rich
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar, Timer
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from sightkit.engine.callbacks import Throughput
from sightkit.engine.distributed import check_sync_batchnorm, is_launch_rank_zero
from sightkit.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_accelerator(device: str) -> str:
    """Map ``auto|cpu|cuda`` to a Lightning accelerator; fail clearly when CUDA is missing."""
    if device not in DEVICES:
        raise ConfigError(f"--device {device!r}: choose one of {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible; use --device cpu or auto")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def mixed_precision(accelerator: str) -> str:
    """bf16/fp16 mixed precision on a GPU, full precision on the CPU."""
    if accelerator != "cuda":
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def build_trainer(run_dir: str | Path, *, max_epochs: int, monitor: str, mode: str = "max",
                  device: str = "auto", patience: int | None = None, max_minutes: float | None = None,
                  progress: bool = True, resuming: bool = False, devices: int = 1, num_nodes: int = 1,
                  strategy: str = "auto", sync_batchnorm: bool = False,
                  extra_callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    """A Trainer that writes checkpoints and logs under ``run_dir``.

    ``resuming`` keeps the previous ``logs/metrics.csv`` (Lightning's CSV logger would delete it)
    by renaming it to ``metrics-upto-epoch-N.csv``. ``devices`` processes per node on
    ``num_nodes`` nodes train with DDP (gloo on the CPU, NCCL on GPUs; see
    :mod:`sightkit.engine.distributed`); checkpoints and logs are written by rank 0 alone.
    ``sync_batchnorm`` turns the model's batch norms into ``SyncBatchNorm`` (GPUs only).
    ``extra_callbacks`` run before the checkpoint writers (an EMA must swap its weights in first).
    """
    run_dir = Path(run_dir)
    accelerator = resolve_accelerator(device)
    check_sync_batchnorm(sync_batchnorm, accelerator)
    if resuming and is_launch_rank_zero():
        _keep_previous_metrics(run_dir / "logs" / "metrics.csv")
    ckpt_dir = run_dir / "checkpoints"
    callbacks: list[pl.Callback] = [
        *(extra_callbacks or []),
        ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode=mode, enable_version_counter=False),
        # Lightning's save_last=True writes last.ckpt only when `monitor` improves; this one writes it every epoch.
        ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1, enable_version_counter=False),
        Throughput(),
    ]
    if patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=patience))
    if progress:
        callbacks.append(_ProgressBar(leave=True, console_kwargs={"stderr": True}))
    loggers = [_CSVLogger(run_dir, name="logs", version=""), _TensorBoardLogger(run_dir, name="logs", version="")]
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=max_epochs,
        max_time={"minutes": max_minutes} if max_minutes else None,
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        sync_batchnorm=sync_batchnorm,
        precision=mixed_precision(accelerator),
        callbacks=callbacks,
        logger=loggers,
        enable_progress_bar=progress,
        enable_model_summary=False,
        log_every_n_steps=10,
        num_sanity_val_steps=0,
        deterministic=False,
    )


def stop_reason(trainer: pl.Trainer) -> str:
    """Why ``fit`` ended: ``"max_minutes"``, ``"early_stopping"`` or ``"completed"``.

    Example:
        >>> trainer.fit(module, train_loader, val_loader); stop_reason(trainer)  # doctest: +SKIP
        'max_minutes'
    """
    for callback in trainer.callbacks:
        remaining = callback.time_remaining() if isinstance(callback, Timer) else None
        if remaining is not None and remaining <= 0:
            return "max_minutes"
        if isinstance(callback, EarlyStopping) and callback.stopped_epoch > 0:
            return "early_stopping"
    return "completed"


class _EpochFromOne:
    """Logger mixin: the ``epoch`` Lightning adds to logged metrics counts from 1, like sightkit's messages."""

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        super().log_metrics(metrics, step)  # type: ignore[misc]


class _CSVLogger(_EpochFromOne, CSVLogger):
    pass


class _TensorBoardLogger(_EpochFromOne, TensorBoardLogger):
    pass


class _ProgressBar(RichProgressBar):
    """Rich progress bar on stderr whose epochs read ``Epoch 1/30`` (Lightning's reads ``Epoch 0/29``).

    Lightning points rich's global console at the bar's; it is pointed back at stdout afterwards.
    """

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().teardown(trainer, pl_module, stage)
        rich.reconfigure()

    def _get_train_description(self, current_epoch: int) -> str:
        total = f"/{self.trainer.max_epochs}" if self.trainer.max_epochs is not None else ""
        return f"{f'Epoch {current_epoch + 1}{total}':{len(self.validation_description)}}"


def _keep_previous_metrics(csv_path: Path) -> None:
    if not csv_path.is_file():
        return
    rows = csv_path.read_text().splitlines()
    header = rows[0].split(",") if rows else []
    epochs = [r.split(",")[header.index("epoch")] for r in rows[1:]] if "epoch" in header else []
    last = max((int(float(e)) for e in epochs if e), default=0)
    csv_path.rename(csv_path.with_name(f"metrics-upto-epoch-{last}.csv"))
