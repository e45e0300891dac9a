"""Tests of the ``sightkit`` command line.

Training, one prediction and the ``--help``/``--debug`` checks run real subprocesses. The rest
(evaluate, predict --format csv, info, the many error cases) call ``sightkit.cli.main.run()`` in-process with a patched ``sys.argv`` (the same
entry point the console script and ``python -m sightkit`` use), which keeps them fast.
"""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from sightkit.cli import main as cli_main

ENV = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200", "PYTHONWARNINGS": "ignore"}


def _sightkit(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sightkit", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def _bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims width x height 8-bit grey pixels (as in tests/core/test_images.py)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
            + chunk(b"IEND", b""))


# --- a real run, shared by the smoke tests --------------------------------------------

@pytest.fixture(scope="module")
def smoke(tmp_path_factory, dataset_writer) -> dict:
    """Train with the CLI in a subprocess, then predict with the bundle in another one."""
    root = tmp_path_factory.mktemp("cli")
    data = dataset_writer(root / "data", per_class=10, size=12)
    run = root / "run"
    train = _sightkit("classify", "train", data, "--model", "skcnn_tiny", "--epochs", "1", "--batch-size", "8",
                      "--out", run, "--no-progress")
    images = sorted((data / "dark").glob("*.png"))[:2] + sorted((data / "bright").glob("*.png"))[:1]
    predict = None
    if train.returncode == 0:
        predict = _sightkit("classify", "predict", run / "model", *images, "--json", "-k", "2")
    return {"data": data, "run": run, "train": train, "images": images, "predict_json": predict}


def test_train_smoke(smoke):
    train = smoke["train"]
    assert train.returncode == 0, train.stderr
    assert "Traceback" not in train.stderr
    assert "model bundle:" in train.stdout and "accuracy" in train.stdout  # the result, on stdout
    assert "model bundle:" not in train.stderr and "data:" in train.stderr  # progress and notes, on stderr
    assert "GPU available" not in train.stderr and "Tip" not in train.stderr
    run = smoke["run"]
    meta = json.loads((run / "model" / "bundle.json").read_text())
    assert meta["task"] == "classify" and meta["architecture"]["name"] == "skcnn_tiny"
    assert meta["training"]["epochs_run"] == 1 and meta["classes"] == ["bright", "dark"]
    assert (run / "report" / "report.html").is_file() and (run / "checkpoints" / "last.ckpt").is_file()


def test_predict_json(smoke):
    result = smoke["predict_json"]
    assert result is not None and result.returncode == 0, result and result.stderr
    predictions = json.loads(result.stdout)
    assert [p["path"] for p in predictions] == [str(p) for p in smoke["images"]]
    for p in predictions:
        assert set(p) == {"path", "label", "score", "topk"}
        assert p["label"] in ("dark", "bright") and 0.0 <= p["score"] <= 1.0
        assert len(p["topk"]) == 2 and p["topk"][0] == {"label": p["label"], "score": p["score"]}
        assert p["topk"][0]["score"] >= p["topk"][1]["score"]


def test_evaluate_json(smoke, cli):
    code, out, err = cli("classify", "evaluate", smoke["run"] / "model", smoke["data"], "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {"accuracy", "macro_f1", "ece"} <= set(report)
    assert 0.0 <= report["accuracy"] <= 1.0
    assert report["split"] == "val" and report["n"] == 4  # the training data: its recorded val split only
    assert Path(report["report_html"]).is_file() and Path(report["report_html"]).parent.name == "report-data"
    assert report["skipped"] == []


def test_predict_csv(smoke, cli):
    code, out, err = cli("classify", "predict", smoke["run"] / "model", smoke["data"] / "dark", "--format", "csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["path", "label", "score", "topk", "error"]
    assert sorted(r[0] for r in rows[1:]) == sorted(str(p) for p in (smoke["data"] / "dark").glob("*.png"))
    for row in rows[1:]:
        assert row[1] in ("dark", "bright") and 0.0 <= float(row[2]) <= 1.0 and row[4] == ""
        assert row[3].startswith(f"{row[1]}:")


def test_info(smoke, cli):
    code, out, err = cli("info", smoke["run"] / "model")
    assert code == 0, err
    assert "classify" in out and "skcnn_tiny" in out and "temperature" in out
    code, out, err = cli("info", smoke["run"] / "model", "--json")
    assert code == 0, err
    assert json.loads(out) == json.loads((smoke["run"] / "model" / "bundle.json").read_text())


# --- help and import cost ------------------------------------------------------------------

def test_help_is_fast_and_does_not_import_torch():
    start = time.perf_counter()
    result = _sightkit("--help", timeout=30)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0 and "classify" in result.stdout
    assert elapsed < 2.0, f"sightkit --help took {elapsed:.2f} s"
    probe = subprocess.run([sys.executable, "-c", "import sightkit.cli.main, sys; print('torch' in sys.modules)"],
                           capture_output=True, text=True, env=ENV, timeout=30)
    assert probe.stdout.strip() == "False"


def test_version():
    from sightkit import __version__

    result = _sightkit("--version", timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == f"sightkit {__version__}"


# --- one-line errors -----------------------------------------------------------------------

def _error_line(stderr: str) -> str:
    """The single ``error:`` line, which must come last; status lines may precede it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert lines[-1] == errors[0], stderr
    return errors[0]


def test_error_is_one_line_in_a_subprocess_and_debug_shows_the_traceback(tmp_path: Path):
    missing = tmp_path / "no_such_model"
    result = _sightkit("info", missing, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # exactly one line
    assert _error_line(result.stderr).startswith(f"error: {missing}: no such bundle")
    debug = _sightkit("--debug", "info", missing, timeout=60)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "BundleError" in debug.stderr


@pytest.fixture
def grey_data(tmp_path: Path, dataset_writer) -> Path:
    return dataset_writer(tmp_path / "data", per_class=4, size=12)


def test_train_errors_on_bad_data(cli, tmp_path: Path, dataset_writer):
    code, _, err = cli("classify", "train", tmp_path / "nowhere", "--epochs", "1", "--no-progress")
    assert code == 2
    assert _error_line(err) == (f"error: DATA {tmp_path / 'nowhere'}: not found; give a folder with one "
                                "subfolder per class or a CSV manifest")

    (tmp_path / "empty").mkdir()
    code, _, err = cli("classify", "train", tmp_path / "empty", "--epochs", "1", "--no-progress")
    assert code == 2 and _error_line(err).startswith(f"error: DATA {tmp_path / 'empty'}: no class subfolders")

    single = dataset_writer(tmp_path / "single", per_class=3, classes=("dark",))
    code, _, err = cli("classify", "train", single, "--epochs", "1", "--no-progress")
    assert code == 2
    assert _error_line(err) == f"error: DATA {single}: only one class ('dark'); a classifier needs at least two"


def test_train_unknown_model_suggests_names(cli, grey_data: Path, tmp_path: Path):
    code, _, err = cli("classify", "train", grey_data, "--model", "resnet81", "--epochs", "1",
                       "--out", tmp_path / "r", "--no-progress")
    assert code == 2
    line = _error_line(err)
    assert line.startswith("error: --model 'resnet81' is not a known model; did you mean:") and "resnet18" in line


@pytest.mark.parametrize("option,value,expected", [
    ("--epochs", "0", "error: --epochs: Input should be greater than or equal to 1 (got 0)"),
    ("--lr", "-1", "error: --lr: Input should be greater than 0 (got -1.0)"),
    ("--augment", "extreme", "error: --augment: Input should be 'none', 'light' or 'strong' (got 'extreme')"),
])
def test_train_bad_option_values(cli, grey_data: Path, tmp_path: Path, option: str, value: str, expected: str):
    code, _, err = cli("classify", "train", grey_data, option, value, "--out", tmp_path / "r", "--no-progress")
    assert code == 2 and _error_line(err) == expected


def test_train_device_cuda_without_a_gpu(cli, grey_data: Path, tmp_path: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    code, _, err = cli("classify", "train", grey_data, "--model", "skcnn_tiny", "--epochs", "1", "--device", "cuda",
                       "--out", tmp_path / "r", "--no-progress")
    assert code == 2 and _error_line(err) == "error: --device cuda: no CUDA GPU is visible; use --device cpu or auto"


def test_resume_without_a_run(cli, grey_data: Path, tmp_path: Path):
    code, _, err = cli("classify", "train", grey_data, "--resume", "--out", tmp_path / "r", "--no-progress")
    assert code == 2
    assert _error_line(err) == f"error: --resume: {tmp_path / 'r'} has no checkpoints/last.ckpt; start a new run without --resume"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A small valid classify bundle (untrained weights), written without training."""
    from sightkit.core.bundle import save_bundle
    from sightkit.tasks.classify.model import create_model

    model = create_model("skcnn_tiny", num_classes=2, in_chans=1)
    meta = {"task": "classify", "architecture": {"name": "skcnn_tiny", "in_chans": 1, "num_classes": 2},
            "classes": ["bright", "dark"], "calibration": {"temperature": 1.0},
            "preprocessing": {"size": 12, "mode": "L", "channels": 1, "mean": [0.5], "std": [0.25]}}
    return save_bundle(tmp_path / "model", model.state_dict(), meta)


def _edit_meta(bundle: Path, **changes) -> None:
    meta = json.loads((bundle / "bundle.json").read_text())
    (bundle / "bundle.json").write_text(json.dumps({**meta, **changes}))


def test_evaluate_with_a_folder_that_is_not_a_bundle(cli, grey_data: Path, tmp_path: Path):
    (tmp_path / "notabundle").mkdir()
    code, _, err = cli("classify", "evaluate", tmp_path / "notabundle", grey_data, "--json")
    assert code == 2
    assert _error_line(err) == f"error: {tmp_path / 'notabundle'}: missing bundle.json; is this a sightkit bundle?"


def test_bundle_of_another_task(cli, bundle: Path, grey_data: Path):
    _edit_meta(bundle, task="face")
    for args in (("classify", "evaluate", bundle, grey_data), ("classify", "predict", bundle, grey_data)):
        code, _, err = cli(*args)
        assert code == 2
        assert _error_line(err).startswith(f"error: {bundle}: this is a 'face' bundle, not a 'classify' bundle")


def test_bundle_from_a_newer_sightkit(cli, bundle: Path, grey_data: Path):
    _edit_meta(bundle, format_version=99)
    for args in (("classify", "evaluate", bundle, grey_data), ("info", bundle)):
        code, _, err = cli(*args)
        assert code == 2
        line = _error_line(err)
        assert line.startswith(f"error: {bundle}: bundle format version 99 is newer") and "upgrade sightkit" in line


def test_evaluate_with_missing_data(cli, bundle: Path, tmp_path: Path):
    code, _, err = cli("classify", "evaluate", bundle, tmp_path / "gone")
    assert code == 2 and _error_line(err) == f"error: DATA {tmp_path / 'gone'}: not found"


def test_predict_text_file_named_jpg(cli, bundle: Path, tmp_path: Path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("I am not a JPEG")
    code, out, err = cli("classify", "predict", bundle, fake, "--json")
    assert code != 0
    assert "Traceback" not in err and "1 of 1 images could not be read" in err
    [result] = json.loads(out)
    assert result["path"] == str(fake) and result["label"] == "unknown"
    assert result["error"].startswith(f"{fake}: not a readable image")


def test_predict_mixed_good_and_bad_images_in_csv(cli, bundle: Path, grey_data: Path, tmp_path: Path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("I am not a JPEG")
    good = sorted((grey_data / "dark").glob("*.png"))[0]
    code, out, err = cli("classify", "predict", bundle, good, fake, "--format", "csv")
    assert code == 1 and "1 of 2 images could not be read" in err
    rows = list(csv.reader(io.StringIO(out)))
    assert [r[0] for r in rows[1:]] == [str(good), str(fake)]
    assert rows[1][4] == "" and str(fake) in rows[2][4]


def test_predict_decompression_bomb(cli, bundle: Path, tmp_path: Path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_bomb_png())
    start = time.perf_counter()
    code, out, err = cli("classify", "predict", bundle, bomb, "--json")
    assert time.perf_counter() - start < 10
    assert code != 0 and "Traceback" not in err
    [result] = json.loads(out)
    assert result["error"].startswith(f"{bomb}: 20000x20000 px") and "decompression bomb" in result["error"]


def test_predict_nothing_matches(cli, bundle: Path, tmp_path: Path):
    code, _, err = cli("classify", "predict", bundle, str(tmp_path / "*.png"))
    assert code == 2 and _error_line(err) == f"error: IMAGES {tmp_path / '*.png'}: no such file, folder or matching glob"


def test_predict_bad_option_is_a_usage_error(cli, bundle: Path, tmp_path: Path):
    code, _, err = cli("classify", "predict", bundle, tmp_path, "--top-k", "0")
    assert code == 2 and "--top-k" in err and "Traceback" not in err
