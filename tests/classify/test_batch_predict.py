"""Resumable batch prediction into Parquet / CSV / JSON lines: every input exactly once after a kill."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sightkit import Classifier
from sightkit.errors import ConfigError
from sightkit.tasks.classify.batch_predict import BatchPrediction, parts_folder, predict_to_file
from sightkit.tasks.classify.predict import expand_image_paths


class _Killed(KeyboardInterrupt):
    """What the test's progress callback raises half way: a Ctrl-C in the middle of a chunk."""


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, dataset_writer) -> Classifier:
    root = tmp_path_factory.mktemp("batch")
    data = dataset_writer(root / "train", per_class=12, size=8)
    return Classifier.train(data, "skcnn_tiny", out=root / "run", epochs=1, batch_size=8, progress=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory, dataset_writer) -> list[Path]:
    data = dataset_writer(tmp_path_factory.mktemp("inputs") / "images", per_class=100, size=8, seed=1)
    return expand_image_paths([data])


def _rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    with open(path, newline="", encoding="utf-8") as handle:
        if path.suffix == ".csv":
            return list(csv.DictReader(handle))
        return [json.loads(line) for line in handle]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_interrupted_run_resumes_with_every_input_once(classifier: Classifier, images: list[Path], tmp_path: Path,
                                                       suffix: str):
    out = tmp_path / f"results{suffix}"
    seen = 0

    def stop_half_way(n: int) -> None:
        nonlocal seen
        seen += n
        if seen >= len(images) // 2:
            raise _Killed

    with pytest.raises(_Killed):
        predict_to_file(classifier.predictor, images, out, chunk_rows=24, batch_size=16, workers=0,
                        progress=stop_half_way)
    assert not out.exists()
    finished_parts = len(list(parts_folder(out).glob("part-*")))
    assert 0 < finished_parts < len(images) / 24

    job = BatchPrediction(classifier.predictor, images, out, chunk_rows=24)
    assert job.skipped_chunks == finished_parts and job.remaining == len(images) - 24 * finished_parts
    summary = job.run(batch_size=16, workers=0)
    assert (summary.rows, summary.predicted, summary.errors) == (len(images), job.remaining, 0)
    rows = _rows(out)
    assert [row["path"] for row in rows] == [str(p) for p in images]  # each once, in input order
    assert not parts_folder(out).exists()
    expected = classifier.predict(images, batch_size=16)
    assert [row["label"] for row in rows] == [p.label for p in expected]


def test_a_parts_folder_of_other_inputs_is_refused(classifier: Classifier, images: list[Path], tmp_path: Path):
    out = tmp_path / "results.parquet"
    BatchPrediction(classifier.predictor, images[:50], out, chunk_rows=10)  # a run that was killed at once
    with pytest.raises(ConfigError, match="other inputs, inputs_sha256"):
        BatchPrediction(classifier.predictor, images, out, chunk_rows=10)
    with pytest.raises(ConfigError, match="other chunk_rows"):
        BatchPrediction(classifier.predictor, images[:50], out, chunk_rows=20)


def test_a_finished_file_is_kept_unless_overwrite(classifier: Classifier, images: list[Path], tmp_path: Path):
    out = tmp_path / "results.jsonl"
    predict_to_file(classifier.predictor, images[:10], out, workers=0)
    with pytest.raises(ConfigError, match="already exists"):
        predict_to_file(classifier.predictor, images[:10], out, workers=0)
    assert predict_to_file(classifier.predictor, images[:5], out, workers=0, overwrite=True).rows == 5
    with pytest.raises(ConfigError, match="must end in .parquet, .csv, .jsonl"):
        BatchPrediction(classifier.predictor, images, tmp_path / "results.xlsx")


def test_cli_unreadable_image_gets_an_error_row(cli, classifier: Classifier, images: list[Path], tmp_path: Path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in images[:5]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "results.parquet"
    code, stdout, err = cli("classify", "predict", classifier.path, folder, "--out", out, "--json")
    assert code == 1, err
    assert json.loads(stdout)["rows"] == 6 and json.loads(stdout)["errors"] == 1
    assert "1 of 6 images could not be read" in err
    broken = [row for row in _rows(out) if row["error"]]
    assert [Path(row["path"]).name for row in broken] == ["broken.png"]


@pytest.mark.slow  # a prediction subprocess killed with SIGKILL, then a second one: ~30 s on 2 busy cores
def test_sigkilled_prediction_resumes(classifier: Classifier, tmp_path: Path, dataset_writer):
    data = dataset_writer(tmp_path / "images", per_class=1500, size=8, seed=2)
    out = tmp_path / "results.parquet"
    env = {**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "sightkit", "classify", "predict", str(classifier.path), str(data), "--out",
               str(out), "--chunk-rows", "100", "--batch-size", "50", "--json"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while len(list(parts_folder(out).glob("part-*"))) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not out.exists()

    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["skipped_chunks"] >= 3 and summary["rows"] == 3000
    paths = [row["path"] for row in _rows(out)]
    assert paths == [str(p) for p in expand_image_paths([data])]
