"""``sightkit anomaly train|score|evaluate`` through the real entry point: results on stdout, one
``error:`` line with exit 2 for a bad request, nothing written by a failed train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _one_error(code: int, out: str, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    return lines[0]


def _linked(folder: Path, files: list[Path]) -> Path:
    folder.mkdir(parents=True)
    for path in files:
        (folder / path.name).symlink_to(path)
    return folder


def test_train_score_evaluate(cli, digit_folders: dict, tmp_path: Path) -> None:
    bundle = tmp_path / "ones.sightkit"
    code, out, err = cli("anomaly", "train", digit_folders["train"], "--out", bundle, "--size", 16,
                         "--false-alarm", 0.1, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["method"] == "patchcore" and summary["held_out"] == 20 and summary["false_alarm"] == 0.1
    assert bundle.is_file() and "memory bank" in err

    images = sorted(digit_folders["anomalous"].glob("d7_*.png"))[:2] + sorted(digit_folders["normal"].glob("*"))[:1]
    code, out, err = cli("anomaly", "score", bundle, *images, "--heatmaps", tmp_path / "maps", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [Path(r["path"]).name for r in rows] == [p.name for p in images]
    assert all(r["threshold"] == pytest.approx(summary["threshold"]) for r in rows)
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == sorted(
        f"{p.parent.name}__{p.stem}.png" for p in images)
    assert all(Path(r["heatmap"]).is_file() for r in rows)

    code, out, err = cli("anomaly", "score", bundle, images[0], "--threshold", 1e9)
    assert code == 0 and "normal" in out and "ANOMALY" not in out

    normal = _linked(tmp_path / "normal", sorted(digit_folders["normal"].glob("*.png"))[:8])
    anomalous = _linked(tmp_path / "anomalous", sorted(digit_folders["anomalous"].glob("*.png"))[::5])
    code, out, err = cli("anomaly", "evaluate", bundle, normal, anomalous, "--out", tmp_path / "report", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["auroc"] > 0.8 and report["n_normal"] == 8 and report["n_anomalous"] == 8
    assert report["training_images_scored"] == 0 and "scores" not in report and err == ""
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Top heatmaps" in html and "data:image/png;base64," in html
    assert json.loads((tmp_path / "report" / "report.json").read_text())["auroc"] == report["auroc"]


def test_evaluate_notes_training_images(cli, patchcore_bundle: Path, digit_folders: dict, tmp_path: Path) -> None:
    seen = _linked(tmp_path / "seen", sorted(digit_folders["train"].glob("*.png"))[:3])
    anomalous = _linked(tmp_path / "anomalous", sorted(digit_folders["anomalous"].glob("*.png"))[:3])
    code, out, err = cli("anomaly", "evaluate", patchcore_bundle, seen, anomalous, "--out", tmp_path / "report")
    assert code == 0 and "auroc" in out
    assert "note: 3 of the normal images were used in training" in err


def test_train_errors_are_one_line_and_write_nothing(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    line = _one_error(*cli("anomaly", "train", tmp_path / "empty", "--out", tmp_path / "a.sightkit"))
    assert "no readable image files found" in line
    line = _one_error(*cli("anomaly", "train", tmp_path / "empty", "--out", tmp_path / "a", "--false-alarm", 1.5))
    assert "--false-alarm" in line
    line = _one_error(*cli("anomaly", "train", tmp_path / "empty", "--out", tmp_path / "a", "--method", "gan"))
    assert "'gan' is not one of" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_score_refuses_another_task_and_missing_images(cli, tmp_path: Path, digit_folders: dict) -> None:
    from sightkit.core.bundle import save_bundle

    import torch

    other = save_bundle(tmp_path / "clf", {"w": torch.zeros(1)}, {"task": "classify"})
    image = sorted(digit_folders["normal"].glob("*.png"))[0]
    line = _one_error(*cli("anomaly", "score", other, image))
    assert "'classify' bundle, not a 'anomaly' bundle" in line
    line = _one_error(*cli("anomaly", "score", other, tmp_path / "nothing*.png"))
    assert "no such file" in line


def test_cli_defaults_are_the_train_config_defaults() -> None:
    import typer

    from sightkit.cli.anomaly import _CONFIG_OPTIONS, app
    from sightkit.tasks.anomaly.config import TrainConfig

    params = {p.name: p.default for p in typer.main.get_command(app).commands["train"].params}
    for name in _CONFIG_OPTIONS:
        assert params[name] == TrainConfig.model_fields[name].default, name
    assert params["method"] == TrainConfig.model_fields["method"].default
