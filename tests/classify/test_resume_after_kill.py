"""A training run killed with SIGKILL leaves no half-written files and resumes with --resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ENV = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "PYTHONWARNINGS": "ignore"}
BATCH = 16
KILL_AFTER = 4  # epochs; val_acc reaches 1.0 before, so a last.ckpt written only on improvement would be stale


def _cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "sightkit", "classify", "train", *map(str, args)]


def _val_epochs(run: Path) -> list[int]:
    """Epochs with a validation row in the CSV log (written before each epoch's checkpoint)."""
    path = run / "logs" / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle) if row.get("val_acc")]


@pytest.mark.slow  # two training subprocesses: ~35 s of CPU, over a minute on a busy machine
def test_killed_run_resumes(tmp_path: Path, dataset_writer):
    data = dataset_writer(tmp_path / "data", per_class=100, size=16)  # 160 train / 40 val images
    run = tmp_path / "run"
    ckpt_dir = run / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    proc = subprocess.Popen(_cmd(data, "--model", "skcnn_tiny", "--epochs", "40", "--batch-size", str(BATCH),
                                 "--out", run, "--no-progress"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    try:
        deadline = time.monotonic() + 180
        while not last.exists() or len(_val_epochs(run)) < KILL_AFTER:
            assert proc.poll() is None, f"training ended early: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, f"not {KILL_AFTER} epochs after 180 s"
            time.sleep(0.05)
        time.sleep(0.2)  # kill somewhere in the middle of an epoch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    logged = _val_epochs(run)

    assert not (run / "model").exists(), "a killed run must not leave a bundle"
    assert {p.name for p in ckpt_dir.iterdir()} <= {"best.ckpt", "last.ckpt"}
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name]
    saved = torch.load(last, map_location="cpu", weights_only=False)  # complete, loadable
    done = saved["epoch"] + 1  # epochs completed when last.ckpt was written
    assert done >= len(logged) - 1 >= KILL_AFTER - 1, f"last.ckpt is from epoch {done}, the log shows {logged}"
    steps_per_epoch = saved["global_step"] // done
    assert steps_per_epoch == 160 // BATCH
    assert done < 40

    total = done + 2
    resumed = subprocess.run(_cmd(data, "--out", run, "--resume", "--epochs", str(total), "--no-progress"),
                             capture_output=True, text=True, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    meta = json.loads((run / "model" / "bundle.json").read_text())
    assert meta["training"]["epochs_run"] == total
    assert meta["training"]["config"]["epochs"] == total
    assert meta["architecture"]["name"] == "skcnn_tiny"  # from the saved config, not the default model
    final = torch.load(last, map_location="cpu", weights_only=False)
    assert final["global_step"] == total * steps_per_epoch
    # logs number epochs from 1: the resumed run logs epochs done + 1 .. total
    assert _val_epochs(run) == list(range(done + 1, total + 1)), "the resumed run must continue, not restart"
    assert {p.name for p in ckpt_dir.iterdir()} == {"best.ckpt", "last.ckpt"}
