"""How a training run behaves around the training itself: quiet output, early checks, no leftovers, stop reasons."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import rich

from sightkit import Classifier
from sightkit.errors import ModelError


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:") and "Traceback" not in stderr, stderr
    return lines[-1]


def test_python_api_training_prints_no_library_chatter(tiny_dataset: Path, tmp_path: Path, capfd):
    import warnings

    import lightning.pytorch  # noqa: F401  (its import adds filters of its own; only ours must not stay)
    from sightkit.tasks.classify import evaluate, train  # noqa: F401

    filters_before = list(warnings.filters)
    clf = Classifier.train(tiny_dataset, "skcnn_tiny", out=tmp_path / "run", epochs=1, batch_size=8, progress=True)
    out, err = capfd.readouterr()
    assert clf.meta["training"]["epochs_run"] == 1
    assert out == ""  # the progress bar is on stderr, and rich's console is back on stdout after it
    assert "Epoch 1/1" in err and not rich.get_console().stderr
    for chatter in ("GPU available", "TPU available", "Tip", "litlogger", "tensorboard", "Warning", "deprecated",
                    "log_every_n_steps", "`Trainer.fit` stopped"):
        assert chatter not in out + err, chatter
    assert warnings.filters == filters_before  # the user's warning filters are left as they were


@pytest.mark.parametrize("args,expected", [
    (("--model", "nosuchnet"), "error: --model 'nosuchnet' is not a known model"),
    (("--device", "tpu"), "error: --device: Input should be 'auto', 'cpu' or 'cuda' (got 'tpu')"),
    (("--optimizer", "lion"), "error: --optimizer: Input should be 'adamw' or 'sgd' (got 'lion')"),
    (("--augment", "max"), "error: --augment: Input should be 'none', 'light' or 'strong' (got 'max')"),
    (("--weights", "nowhere.safetensors"), "error: --weights nowhere.safetensors: file not found"),
    (("--model", "skcnn_small", "--pretrained"), "error: --pretrained: the built-in skcnn_small has no pretrained"),
])
def test_options_are_checked_before_the_data(cli, tmp_path: Path, args, expected):
    """DATA does not exist: the option's error must come first, and nothing is created."""
    code, out, err = cli("classify", "train", tmp_path / "no-data", *args, "--out", tmp_path / "runs" / "r",
                         "--no-progress")
    assert code == 2 and out == ""
    assert _error_line(err).startswith(expected)
    assert not (tmp_path / "runs").exists()


def test_bad_data_leaves_no_run_folder(cli, tmp_path: Path, dataset_writer):
    single = dataset_writer(tmp_path / "single", per_class=3, classes=("dark",))
    code, _, err = cli("classify", "train", single, "--out", tmp_path / "runs" / "r", "--no-progress")
    assert code == 2 and "only one class" in _error_line(err)
    assert not (tmp_path / "runs").exists()


def test_an_error_during_training_removes_the_run_folder(tiny_dataset: Path, tmp_path: Path, monkeypatch):
    from sightkit.tasks.classify.lit_module import ClassificationModule

    def broken_step(self, batch, batch_idx):
        raise RuntimeError("boom in epoch 1")

    monkeypatch.setattr(ClassificationModule, "training_step", broken_step)
    with pytest.raises(RuntimeError, match="boom"):
        Classifier.train(tiny_dataset, "skcnn_tiny", out=tmp_path / "runs" / "r", epochs=1, progress=False,
                         status=lambda m: None)
    assert not (tmp_path / "runs").exists()


def test_max_minutes_says_it_stopped(cli, tiny_dataset: Path, tmp_path: Path):
    code, out, err = cli("classify", "train", tiny_dataset, "--model", "skcnn_tiny", "--epochs", "50",
                         "--batch-size", "4", "--max-minutes", "0.0001", "--out", tmp_path / "r", "--no-progress",
                         "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["stopped"] == "max_minutes" and result["epochs_run"] < 50
    assert "training stopped by --max-minutes 0.0001 after" in err and "of 50 epochs" in err
    meta = json.loads((tmp_path / "r" / "model" / "bundle.json").read_text())
    assert meta["training"]["stopped"] == "max_minutes"
    assert "max_minutes" in (tmp_path / "r" / "report" / "report.html").read_text()


def test_pretrained_offline_fails_within_seconds(cli, tiny_dataset: Path, tmp_path: Path, monkeypatch):
    """The hub at a closed local port, empty caches: one clear error, not ~50 s of retries."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    start = time.perf_counter()
    code, _, err = cli("classify", "train", tiny_dataset, "--model", "resnet18", "--pretrained",
                       "--out", tmp_path / "r", "--no-progress")
    assert time.perf_counter() - start < 10
    line = _error_line(err)
    assert code == 2 and line.startswith("error: --pretrained: the weights of resnet18 are not cached and cannot be "
                                         "downloaded (127.0.0.1:9 cannot be reached: ")
    assert "--weights FILE" in line and not (tmp_path / "r").exists()


def test_pretrained_fails_fast_when_a_proxy_answers_404(tmp_path: Path, monkeypatch):
    """Some networks answer every request themselves: a 404 for the weights is an answer too."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import huggingface_hub.constants

    from sightkit.tasks.classify.hub import pretrained_source

    class NotFound(BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    start = time.perf_counter()
    try:
        with pytest.raises(ModelError, match=r"answered HTTP 404 for /timm/resnet18\.a1_in1k/resolve/main/model"):
            pretrained_source("resnet18")
    finally:
        server.shutdown()
    assert time.perf_counter() - start < 5


def test_pretrained_weights_in_the_local_cache_need_no_network(tmp_path: Path, monkeypatch):
    import huggingface_hub.constants
    import timm
    import torch

    from sightkit.tasks.classify.hub import pretrained_source

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    url = timm.get_pretrained_cfg("resnet18").url
    cached = tmp_path / "torch" / "hub" / "checkpoints" / Path(url).name
    cached.parent.mkdir(parents=True)
    torch.save(timm.create_model("resnet18").state_dict(), cached)
    assert pretrained_source("resnet18") == {"file": str(cached)}
    with pytest.raises(ModelError, match="cannot be reached"):
        pretrained_source("resnet34")  # not cached
