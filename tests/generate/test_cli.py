"""``sightkit generate train|sample|evaluate`` through the real entry point: results on stdout, one
``error:`` line with exit 2 for a bad request and no files left behind, defaults that are TrainConfig's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _one_error(code: int, out: str, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    return lines[0]


def test_train_sample_evaluate(cli, pattern_data: Path, tmp_path: Path, tiny: dict, dataset_writer) -> None:
    from sightkit.tasks.classify.api import Classifier

    options = [f"--{k.replace('_', '-')}={v}" for k, v in tiny.items()]
    code, out, err = cli("generate", "train", pattern_data, *options, "--epochs", 2, "--out", tmp_path / "run",
                         "--no-progress", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["epochs_run"] == 2 and result["steps_run"] == 8 and Path(result["bundle"]).is_dir()
    assert sorted(p.name for p in Path(result["samples"]).iterdir()) == ["epoch_000.png", "epoch_001.png"]

    code, out, err = cli("generate", "sample", result["bundle"], "-n", 3, "--class", "dark", "--out", tmp_path / "s")
    assert code == 0, err
    assert out.strip() == f"3 images in {tmp_path / 's'} (grid: {tmp_path / 's' / 'grid.png'})"
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["dark_0000.png", "dark_0001.png",
                                                                  "dark_0002.png", "grid.png"]

    real = dataset_writer(tmp_path / "real", per_class=12, size=16, classes=("dark", "bright"), seed=1)
    features = Classifier.train(pattern_data, "skcnn_tiny", out=tmp_path / "clf", epochs=1, progress=False,
                                status=lambda m: None).path
    code, out, err = cli("generate", "evaluate", result["bundle"], real, "--features", features, "--per-class", 4,
                         "--out", tmp_path / "eval", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["n_real_half"] == 12 and report["n_generated"] == 12
    assert {"fid", "real_fid", "kid", "real_kid", "precision", "recall", "class_consistency"} <= set(report)
    assert set(report["per_class"]) == {"bright", "dark"} and report["per_class"]["dark"]["n"] == 4
    assert "skcnn_tiny" in report["feature_network"]
    html = (tmp_path / "eval" / "report.html").read_text()
    assert "data:image/png;base64," in html and "skcnn_tiny" in html
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["fid"] == report["fid"]


@pytest.mark.parametrize(("classes", "args", "expected"), [
    (("bright", "dark"), ["-n", "0"], "error: -n 0: ask for at least 1 image"),
    (("bright", "dark"), ["--class", "grey"], "error: --class 'grey' is not a class of this model; its classes: "
                                              "bright, dark"),
    ((), ["--class", "bright"], "error: --class 'bright': this model is unconditional (it has no classes); "
                                "sample without --class"),
])
def test_sample_errors_are_one_line_and_write_nothing(cli, bundle_factory, tmp_path: Path, classes, args,
                                                      expected) -> None:
    out = tmp_path / "a" / "samples"
    line = _one_error(*cli("generate", "sample", bundle_factory(classes=classes), *args, "--out", out))
    assert line == expected
    assert not (tmp_path / "a").exists()


def test_sample_of_a_bundle_of_another_task(cli, tmp_path: Path) -> None:
    from sightkit.core.bundle import save_bundle

    other = save_bundle(tmp_path / "clf", {}, {"task": "classify"})
    line = _one_error(*cli("generate", "sample", other, "--out", tmp_path / "s"))
    assert "not a 'generate' bundle" in line and not (tmp_path / "s").exists()


def test_train_errors(cli, tmp_path: Path, pattern_data: Path) -> None:
    assert _one_error(*cli("generate", "train", tmp_path / "nope", "--out", tmp_path / "run")).startswith(
        f"error: DATA {tmp_path / 'nope'}: not found")
    assert _one_error(*cli("generate", "train", pattern_data, "--size", 48, "--out", tmp_path / "run")) == (
        "error: --size: Input should be 32 or 64 (got 48)")
    assert not (tmp_path / "run").exists()


def test_evaluate_errors(cli, bundle_factory, tmp_path: Path, pattern_data: Path) -> None:
    bundle = bundle_factory()
    not_a_bundle = tmp_path / "inception.pth"
    not_a_bundle.write_bytes(b"weights")
    line = _one_error(*cli("generate", "evaluate", bundle, pattern_data, "--features", not_a_bundle,
                           "--out", tmp_path / "eval"))
    assert line.startswith(f"error: --features {not_a_bundle}: not a sightkit classify bundle")
    assert not (tmp_path / "eval").exists()
    line = _one_error(*cli("generate", "evaluate", bundle, tmp_path / "missing", "--out", tmp_path / "eval"))
    assert "not found" in line and not (tmp_path / "eval").exists()


def test_cli_defaults_are_the_train_config_defaults() -> None:
    import typer

    from sightkit.cli.generate import _CONFIG_OPTIONS, app
    from sightkit.tasks.generate.config import TrainConfig

    defaults = {p.name: p.default for p in typer.main.get_command(app).commands["train"].params}
    for name in _CONFIG_OPTIONS:
        assert defaults[name] == TrainConfig.model_fields[name].default, name


@pytest.mark.parametrize("command", ["train", "sample", "evaluate"])
def test_help_fits_80_columns(cli, command: str) -> None:
    code, out, _ = cli("generate", command, "--help")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80
    assert "<int>" not in out and "<path>" not in out


def test_evaluate_an_unconditional_model(cli, bundle_factory, dataset_writer, tmp_path: Path) -> None:
    from sightkit.core.bundle import save_bundle
    from sightkit.tasks.classify.model import create_model

    classes = ["bright", "dark"]
    features = save_bundle(tmp_path / "clf", create_model("skcnn_tiny", 2, 1).state_dict(), {
        "task": "classify", "architecture": {"name": "skcnn_tiny", "in_chans": 1, "num_classes": 2},
        "classes": classes, "preprocessing": {"size": 16, "mode": "L", "channels": 1, "mean": [0.5], "std": [0.5]}})
    real = dataset_writer(tmp_path / "real", per_class=6, size=16, classes=tuple(classes))
    code, out, err = cli("generate", "evaluate", bundle_factory(classes=()), real, "--features", features,
                         "--out", tmp_path / "eval")
    assert code == 0, err
    assert "fid" in out and "class consistency" not in out and f"report: {tmp_path / 'eval' / 'report.html'}" in out
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["class_consistency"] is None and report["per_class"] == {} and report["n_generated"] == 6
