"""Training on several processes with DDP (gloo on the CPU), through the real CLI.

Lightning starts the second process itself by re-running the command, so the runs go through
subprocesses. Tolerance of "the same metrics": the 2-process run steps as often per epoch as the
1-process one (``--batch-size`` is the global batch), but its batch-norm statistics come from half
batches and its shuffling differs, so held-out accuracy may differ by at most 0.1 on this easy
data, where both reach at least 0.9.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sightkit.engine.distributed import check_distributed_options, global_batch_share, launch_rank
from sightkit.errors import ConfigError

ENV = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "PYTHONWARNINGS": "ignore"}
ACCURACY_TOLERANCE = 0.1


def _train(*args: str | Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "sightkit", "classify", "train", *map(str, args), "--model", "skcnn_tiny",
               "--batch-size", "8", "--device", "cpu", "--no-progress", "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _finish(proc: subprocess.Popen) -> tuple[dict, str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out), err  # json.loads fails if a second process printed too


@pytest.mark.slow  # three training runs in subprocesses: ~1-2 minutes on 2 shared cores
def test_two_processes_train_like_one_and_resume_on_one(tmp_path: Path, dataset_writer):
    data = dataset_writer(tmp_path / "data", per_class=40, size=16)  # 64 train / 16 val images
    single, double = tmp_path / "single", tmp_path / "double"
    runs = [_train(data, "--epochs", "6", "--out", single),
            _train(data, "--epochs", "6", "--out", double, "--devices", "2", "--strategy", "ddp")]
    (one, _), (two, err) = (_finish(proc) for proc in runs)

    assert err.count("data: ") == 1, err  # rank 1 prints nothing
    meta = json.loads((double / "model" / "bundle.json").read_text())
    history = meta["training"]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert one["accuracy"] >= 0.9 and two["accuracy"] >= 0.9
    assert abs(one["accuracy"] - two["accuracy"]) <= ACCURACY_TOLERANCE
    # The same number of optimizer steps: the global batch is split over the processes.
    steps = [torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] for run in (single, double)]
    assert steps[0] == steps[1] == 6 * (64 // 8)
    assert sorted(p.name for p in (double / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "double", "single"]  # no stray run folder
    assert sorted(p.name for p in (double / "model").iterdir()) == ["bundle.json", "dataset.json",
                                                                   "weights.safetensors"]

    resumed, _ = _finish(_train(data, "--resume", "--epochs", "7", "--out", double, "--devices", "1"))
    assert resumed["epochs_run"] == 7 and resumed["accuracy"] >= 0.9


def test_batch_size_is_the_global_batch():
    assert global_batch_share(64, 4) == 16
    with pytest.raises(ConfigError, match="multiple of the 3 processes"):
        global_batch_share(64, 3)


def test_several_processes_need_one_run_folder(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ConfigError, match="--out RUN_DIR"):
        check_distributed_options(2, 1, "ddp", 64, run_dir_given=False)
    with pytest.raises(ConfigError, match="--strategy 'fsdp'"):
        check_distributed_options(1, 1, "fsdp", 64, run_dir_given=True)
    monkeypatch.setenv("WORLD_SIZE", "8")  # torchrun's count wins over --devices
    with pytest.raises(ConfigError, match="8 processes"):
        check_distributed_options(1, 1, "ddp", 12, run_dir_given=True)


@pytest.mark.parametrize("env,rank", [
    ({}, 0),
    ({"RANK": "3"}, 3),                      # torchrun
    ({"SLURM_PROCID": "2"}, 2),              # srun
    ({"LOCAL_RANK": "1"}, 1),                # started by Lightning on node 0
    ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, 1_000_000),  # node 1's first process is not rank 0
])
def test_launch_rank_from_the_environment(monkeypatch, env, rank):
    for name in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK", "LOCAL_RANK", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert launch_rank() == rank


def test_cli_devices_without_out_is_one_error_line(cli, tmp_path: Path, dataset_writer):
    data = dataset_writer(tmp_path / "data", per_class=4, size=8)
    code, out, err = cli("classify", "train", data, "--devices", "2")
    assert code == 2 and out == ""
    assert err.strip() == ("error: --devices 2: give --out RUN_DIR, so that every process writes to the same run "
                           "folder")
