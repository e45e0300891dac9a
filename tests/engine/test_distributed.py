"""The multi-process options every task shares: --sync-batchnorm, rank-0 status and run folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning.pytorch.plugins.layer_sync import TorchSyncBatchNorm

from sightkit.engine import distributed
from sightkit.engine.distributed import DistributedOptions, rank_zero_status, run_folder, trainer_options
from sightkit.errors import ConfigError


def test_sync_batchnorm_reaches_lightning_and_its_model_saves_like_a_plain_one(monkeypatch, tmp_path: Path):
    import torch

    from sightkit.engine import trainer as trainer_module
    from sightkit.engine.trainer import build_trainer
    from sightkit.tasks.classify.model import create_model

    with pytest.raises(ConfigError, match="--sync-batchnorm: PyTorch's SyncBatchNorm runs on GPUs only"):
        build_trainer(tmp_path / "run", max_epochs=1, monitor="val_acc", device="cpu", sync_batchnorm=True)
    monkeypatch.setattr(trainer_module, "check_sync_batchnorm", lambda *args: None)  # as on a GPU machine
    trainer = build_trainer(tmp_path / "run", max_epochs=1, monitor="val_acc", device="cpu", progress=False,
                            devices=2, strategy="ddp", sync_batchnorm=True)  # no process starts before fit
    assert isinstance(trainer.strategy._layer_sync, TorchSyncBatchNorm)
    plain = create_model("skcnn_tiny", 3, 1)
    synced = trainer.strategy._layer_sync.apply(create_model("skcnn_tiny", 3, 1))
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
    plain.load_state_dict(synced.state_dict())  # the bundle of a --sync-batchnorm run loads into the plain model


@pytest.mark.parametrize("command", [
    ["classify", "train", "DATA", "--model", "skcnn_tiny", "--epochs", "1"],
    ["generate", "train", "digits", "--epochs", "1"],
])
def test_cli_sync_batchnorm_on_the_cpu_is_one_error_line_and_leaves_no_run(cli, tmp_path: Path, dataset_writer,
                                                                          command: list[str]):
    data = dataset_writer(tmp_path / "data", per_class=4, size=8)
    out = tmp_path / "run"
    code, stdout, err = cli(*[str(data) if word == "DATA" else word for word in command], "--device", "cpu",
                            "--sync-batchnorm", "--out", out, "--no-progress")
    assert code == 2 and stdout == ""
    assert err.strip().splitlines()[-1].startswith("error: --sync-batchnorm: PyTorch's SyncBatchNorm runs on GPUs")
    assert not out.exists()


@pytest.mark.parametrize("command", [
    ["detect", "train", "DATA"], ["generate", "train", "digits"], ["enhance", "train", "DATA"],
    ["enhance", "train-inpaint", "DATA"],
])
def test_every_train_command_needs_one_run_folder_for_several_processes(cli, tmp_path: Path, command: list[str],
                                                                        monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    code, stdout, err = cli(*[str(tmp_path) if word == "DATA" else word for word in command], "--devices", "2")
    assert code == 2 and stdout == ""
    assert err.strip() == "error: --devices 2: give --out RUN_DIR, so that every process writes to the same run folder"


def test_trainer_options_of_a_config():
    assert trainer_options(DistributedOptions(devices=4, num_nodes=2, strategy="ddp")) == {
        "devices": 4, "num_nodes": 2, "strategy": "ddp", "sync_batchnorm": False}
    with pytest.raises(ValueError):
        DistributedOptions(devices=0)


def test_other_ranks_are_silent_and_never_remove_the_run_folder(monkeypatch, tmp_path: Path):
    lines: list[str] = []
    monkeypatch.setattr(distributed, "launch_rank", lambda: 1)
    rank_zero_status(lines.append)("data: 10 images")
    assert lines == []
    with pytest.raises(RuntimeError), run_folder(tmp_path / "run"):
        raise RuntimeError("rank 1 failed")
    assert (tmp_path / "run").is_dir()  # rank 0 owns it
    monkeypatch.setattr(distributed, "launch_rank", lambda: 0)
    rank_zero_status(lines.append)("data: 10 images")
    with pytest.raises(RuntimeError), run_folder(tmp_path / "new"):
        raise RuntimeError("rank 0 failed")
    assert lines == ["data: 10 images"] and not (tmp_path / "new").exists()
