"""Per-epoch training history (loss and accuracy, train and val) read back from a run's CSV logs.

The CSV logger writes one row per logging call; an epoch's training and validation values land
on separate rows, and a resumed run keeps its earlier rows in ``metrics-upto-epoch-N.csv``.
:func:`read_history` merges them into one record per epoch, numbered from 1.

Example:
    >>> read_history("runs/x/logs")[0]  # doctest: +SKIP
    {'epoch': 1, 'train_loss': 0.93, 'train_acc': 0.61, 'val_loss': 0.71, 'val_acc': 0.78}
"""

from __future__ import annotations

import csv
from pathlib import Path

HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


def read_history(log_dir: str | Path, keys: tuple[str, ...] = HISTORY_KEYS) -> list[dict[str, float]]:
    """One ``{"epoch", key: value}`` record per epoch from ``metrics*.csv`` under ``log_dir`` (later files win)."""
    folder = Path(log_dir)
    files = sorted(folder.glob("metrics-upto-epoch-*.csv"), key=_upto_epoch)
    if (folder / "metrics.csv").is_file():
        files.append(folder / "metrics.csv")
    epochs: dict[int, dict[str, float]] = {}
    for path in files:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if not row.get("epoch"):
                    continue
                record = epochs.setdefault(int(float(row["epoch"])), {})
                record.update({k: float(row[k]) for k in keys if row.get(k)})
    return [{"epoch": epoch, **values} for epoch, values in sorted(epochs.items()) if values]


def _upto_epoch(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[-1])
