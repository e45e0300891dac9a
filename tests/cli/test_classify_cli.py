"""``sightkit classify`` through the real CLI: which images evaluate scores, stdout vs stderr, ONNX on bundles.

One small model is trained once per module on plantvillage-like data (long class names, RGB,
a test split) and shared; every command runs in-process through ``cli.main.run``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sightkit import Classifier

# Class names as long as PlantVillage's, each drawn as one of the test patterns.
CLASSES = {"Pepper__bell___Bacterial_spot": "dark", "Potato___Early_blight": "bright", "Potato___healthy": "stripes"}
PER_CLASS = 10  # 20% test, 20% val: 2 + 2 + 6 per class


def _write(root: Path, pattern_maker, per_class: int = PER_CLASS, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name, pattern in CLASSES.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(pattern_maker(pattern, 16, rng)).convert("RGB").save(root / name / f"{name}_{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def plants(tmp_path_factory, pattern_maker) -> Path:
    return _write(tmp_path_factory.mktemp("pv") / "plantvillage", pattern_maker)


@pytest.fixture(scope="module")
def bundle(plants: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run") / "run"
    clf = Classifier.train(plants, "skcnn_tiny", out=run, epochs=2, batch_size=8, test_fraction=0.2,
                           progress=False, status=lambda m: None)
    return clf.path


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in stderr, stderr
    return errors[0]


# --- evaluate: never training images unnoticed -------------------------------------------

def test_evaluate_on_the_training_data_scores_its_test_split(cli, bundle: Path, plants: Path):
    code, out, err = cli("classify", "evaluate", bundle, plants, "--json")
    assert code == 0, err
    report = json.loads(out)  # JSON alone on stdout
    assert report["split"] == "test" and report["n"] == 2 * len(CLASSES)
    assert report["scored"] == f"recorded test split of {plants.resolve()}: 6 images"
    assert "scoring the recorded test split" in err
    html = Path(report["report_html"]).read_text()
    assert "recorded test split of" in html and "About this report" in html and "Training curves" in html


def test_evaluate_table_goes_to_stdout_and_progress_to_stderr(cli, bundle: Path, plants: Path):
    code, out, err = cli("classify", "evaluate", bundle, plants)
    assert code == 0, err
    assert "accuracy" in out and "recorded test split" in out and "report:" in out
    assert "accuracy" not in err and "report:" not in err


def test_evaluate_split_option(cli, bundle: Path, plants: Path):
    code, out, err = cli("classify", "evaluate", bundle, plants, "--split", "train", "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == 6 * len(CLASSES) and "includes training images" in err
    code, out, _ = cli("classify", "evaluate", bundle, plants, "--split", "all", "--json")
    assert json.loads(out)["n"] == PER_CLASS * len(CLASSES)


def test_a_copy_of_the_training_data_is_refused_with_a_count(cli, bundle: Path, plants: Path, tmp_path: Path):
    copy = shutil.copytree(plants, tmp_path / "copy")
    code, out, err = cli("classify", "evaluate", bundle, copy, "--json")
    assert code == 2 and out == ""
    line = _error_line(err)
    assert line.startswith(f"error: DATA {copy}: 18 of its 30 images are training images of this model")
    assert "--allow-train-images" in line
    assert not (bundle.parent / "report-copy").exists()  # nothing written for a refused evaluation

    code, out, err = cli("classify", "evaluate", bundle, copy, "--allow-train-images", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == 30 and report["training_images"] == 18
    assert "18 of the 30 images are training images" in err


def test_a_folder_mixing_in_training_images_is_refused(cli, bundle: Path, plants: Path, tmp_path: Path,
                                                        pattern_maker):
    mixed = _write(tmp_path / "new", pattern_maker, per_class=2, seed=11)
    train_files = json.loads((bundle.parent / "splits.json").read_text())["train"][:3]
    for path in map(Path, train_files):
        shutil.copy(path, mixed / path.parent.name / f"copied-{path.name}")
    code, _, err = cli("classify", "evaluate", bundle, mixed)
    assert code == 2 and "3 of its 9 images are training images" in _error_line(err)
    code, _, err = cli("classify", "evaluate", bundle, mixed, "--split", "test")
    assert code == 2 and "--split test: DATA is not the dataset this model was trained on" in _error_line(err)


# --- predict ----------------------------------------------------------------------------------

def test_predict_table_fits_80_columns_with_whole_names(cli, bundle: Path, plants: Path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    images = [plants / name / f"{name}_000.png" for name in CLASSES]
    code, out, err = cli("classify", "predict", bundle, *images, "-k", "2")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith(("│", "┃", "┏", "┡", "└"))]
    assert max(len(line) for line in out.splitlines()) <= 80
    assert rows and all(line.rstrip()[-1] in "│┃┓┩┘" for line in rows)  # whole rows, none cropped at 80
    assert f"folder: {plants}" in out
    assert str(plants) not in out.replace(f"folder: {plants}", "")  # rows show relative names
    cells = {line.split("│")[2].strip() for line in rows if line.count("│") == 3}
    shown = {cell.rsplit(" ", 1)[0] for cell in cells if cell}
    assert shown and shown <= set(CLASSES)  # whole class names, none cut
    assert len(cells) == 2 * len(images)  # the label, then the second candidate (-k 2)


def test_predict_with_onnx_on_a_bundle_folder_exports_once(cli, bundle: Path, plants: Path, tmp_path: Path,
                                                           monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    images = sorted(plants.glob("*/*_00[01].png"))
    code, out, err = cli("classify", "predict", bundle, *images, "--backend", "onnx", "--json")
    assert code == 0, err
    assert "exporting" in err
    cached = list((tmp_path / "cache" / "sightkit" / "onnx").glob("*.onnx"))
    assert len(cached) == 1 and not list(bundle.glob("*.onnx"))  # cached outside the bundle
    onnx_results = json.loads(out)
    code, out, err = cli("classify", "predict", bundle, *images, "--backend", "onnx", "--json")
    assert code == 0 and "exporting" not in err  # the second call reuses the export
    assert json.loads(out) == onnx_results
    _, torch_out, _ = cli("classify", "predict", bundle, *images, "--json")
    assert [r["label"] for r in json.loads(torch_out)] == [r["label"] for r in onnx_results]
    zipped = Classifier.load(bundle).save(tmp_path / "model.sightkit")
    code, out, err = cli("classify", "predict", zipped, *images, "--backend", "onnx", "--json")
    assert code == 0 and [r["label"] for r in json.loads(out)] == [r["label"] for r in onnx_results]


# --- models -------------------------------------------------------------------------------------

def test_models_without_a_match_says_so(cli):
    code, out, err = cli("classify", "models", "zzz*")
    assert code == 1 and out == ""
    assert "no model name matches 'zzz*'" in err
    code, out, _ = cli("classify", "models", "skcnn_*")
    assert code == 0 and out.split() == ["skcnn_tiny", "skcnn_small", "skcnn_base"]


# --- help and the demo --------------------------------------------------------------------------

def test_train_help_shows_the_defaults(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli("classify", "train", "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    for default in ("[default: skcnn_small]", "[default: 30]", "[default: 64]", "[default: 0.002]",
                    "[default: light]", "[default: from the data]", "[default: off]"):
        assert default in text, default
    assert " ." not in text and "{data}" not in text and "…" not in out


def test_cli_defaults_are_the_train_config_defaults():
    import typer

    from sightkit.cli.classify import _CONFIG_OPTIONS, app
    from sightkit.tasks.classify.config import TrainConfig

    command = typer.main.get_command(app).commands["train"]
    defaults = {p.name: p.default for p in command.params}
    assert defaults["model"] == TrainConfig.model_fields["model"].default
    for name in _CONFIG_OPTIONS:
        assert defaults[name] == TrainConfig.model_fields[name].default, name


def test_demo_writes_under_runs_demo_by_default():
    import typer

    from sightkit.cli.main import app

    command = typer.main.get_command(app).commands["demo"]
    assert {p.name: p.default for p in command.params}["out"] == Path("runs/demo")


@pytest.mark.slow
def test_demo_results_on_stdout(cli, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("demo", "--epochs", "1", "--no-progress")
    assert code == 0, err
    assert "predictions on held-out test digits" in out and "test accuracy" in out and "model bundle:" in out
    assert "writing everything under runs/demo/" in err and "test accuracy" not in err
    assert (tmp_path / "runs" / "demo" / "run" / "model" / "bundle.json").is_file()


def test_a_bundle_without_recorded_training_data_evaluates_with_a_note(cli, bundle: Path, plants: Path,
                                                                       tmp_path: Path):
    from sightkit.core.bundle import load_bundle, save_bundle

    state, meta = load_bundle(bundle)
    del meta["training"]  # as from a tool that records no training data
    old = save_bundle(tmp_path / "old", state, meta)
    code, out, err = cli("classify", "evaluate", old, plants, "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == PER_CLASS * len(CLASSES) and json.loads(out)["split"] == "external"
    assert "records no training images" in err and "cannot be checked" in err
