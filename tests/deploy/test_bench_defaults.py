"""``sightkit bench BUNDLE`` with no options, as the README writes it: INT8 is calibrated on the
bundle's recorded validation split, or skipped with a one-line note when that data is gone;
``--threads`` follows the process-wide setting when not given."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from sightkit.deploy.bench import bench


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process-wide setting at one thread (as ``sightkit --threads 1`` makes it), so that the
    default 20 repeats stay fast when other jobs load the cores."""
    monkeypatch.setenv("SIGHTKIT_THREADS", "1")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _train(root: Path, dataset_writer: Callable[..., Path]) -> Path:
    from sightkit import Classifier

    data = dataset_writer(root / "data", per_class=10, size=12)
    clf = Classifier.train(data, "skcnn_tiny", out=root / "run", epochs=1, batch_size=16, augment="none",
                           workers=0, progress=False, status=lambda message: None)
    return clf.path


def test_bench_with_no_options_calibrates_int8_on_the_recorded_val_split(cli, tmp_path, dataset_writer,
                                                                         one_thread) -> None:
    bundle = _train(tmp_path, dataset_writer)
    code, out, err = cli("bench", bundle)
    assert code == 0, err
    rows = [line.split()[0] for line in out.splitlines() if line.strip().startswith(("torch", "onnx"))]
    assert rows == ["torch", "onnx", "onnx-int8"]
    assert "recorded validation split" in err and "error" not in err

    code, out, _ = cli("bench", bundle, "--backends", "onnx-int8", "--batch", "1", "--repeats", "2", "--json")
    variant = json.loads(out)["variants"][0]
    assert code == 0 and variant["name"] == "onnx-int8"
    assert variant["calibration"] == "recorded validation split (4 images)"  # 20 images, val_fraction 0.2


def test_bench_skips_int8_with_a_note_when_the_training_data_is_gone(cli, tmp_path, dataset_writer,
                                                                     one_thread) -> None:
    bundle = _train(tmp_path, dataset_writer)
    shutil.rmtree(tmp_path / "data")
    code, out, err = cli("bench", bundle, "--repeats", "2", "--json")
    assert code == 0, err
    assert [v["name"] for v in json.loads(out)["variants"]] == ["torch", "onnx"]
    notes = [line for line in err.splitlines() if "onnx-int8" in line]
    assert len(notes) == 1 and notes[0].startswith("onnx-int8 skipped") and "error" not in err

    code, out, err = cli("bench", bundle, "--backends", "onnx-int8")
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].startswith("error: nothing to benchmark: onnx-int8 needs images")


@pytest.mark.parametrize("process_threads", [1, 2])
def test_bench_threads_follow_the_process_wide_setting(tiny_bundle: Path, process_threads: int) -> None:
    previous = torch.get_num_threads()
    torch.set_num_threads(process_threads)
    try:
        result = bench([tiny_bundle], backends=["torch"], batches=(1,), warmup=0, repeats=1)
        assert result["threads"] == process_threads
        assert bench([tiny_bundle], backends=["torch"], batches=(1,), warmup=0, repeats=1, threads=3)["threads"] == 3
        assert torch.get_num_threads() == process_threads  # --threads does not leak out of bench
    finally:
        torch.set_num_threads(previous)
