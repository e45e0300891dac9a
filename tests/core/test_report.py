"""Tests of write_report and the atomic writes under it."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from sightkit.core import fileio
from sightkit.core.fileio import atomic_write_bytes, atomic_write_text
from sightkit.core.report import write_report
from sightkit.errors import ConfigError
from sightkit.tasks.classify.calibration import reliability_bins
from sightkit.tasks.classify.plots import plot_confusion_matrix, plot_image_grid, plot_reliability


def _figure() -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def _report() -> dict:
    return {
        "accuracy": np.float32(0.75),
        "n": 4,
        "model": "tiny <net>",
        "nll": float("nan"),
        "confusion_matrix": np.array([[1, 0], [1, 2]]),
        "per_class": {
            "<b>bold</b>": {"precision": 0.5, "recall": 1.0, "support": 1},
            "dog & co": {"precision": 1.0, "recall": 2 / 3, "support": 3},
        },
    }


def test_write_report_creates_all_files(tmp_path):
    html_path = write_report(tmp_path / "eval", _report(), {"curve": _figure()}, title="Test <report>")
    folder = tmp_path / "eval"
    assert html_path == folder / "report.html"
    assert sorted(p.name for p in folder.iterdir()) == ["curve.png", "report.html", "report.json"]
    assert (folder / "curve.png").read_bytes().startswith(b"\x89PNG")

    data = json.loads((folder / "report.json").read_text())
    assert data["accuracy"] == pytest.approx(0.75)
    assert data["nll"] is None
    assert data["confusion_matrix"] == [[1, 0], [1, 2]]

    page = html_path.read_text()
    assert "data:image/png;base64," in page
    assert "<b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "Test &lt;report&gt;" in page
    assert "dog &amp; co" in page
    assert "<details>" in page
    assert 'src="http' not in page and "<link" not in page


def test_summary_keys_select_rows_and_must_exist(tmp_path):
    page = write_report(tmp_path, _report(), {}, "t", summary_keys=["accuracy"]).read_text()
    summary = page.split("<h2>Summary</h2>")[1].split("</table>")[0]
    assert "accuracy" in summary and "model" not in summary
    with pytest.raises(ConfigError, match="missing_key"):
        write_report(tmp_path, _report(), {}, "t", summary_keys=["missing_key"])


def test_bad_figure_name_is_rejected_before_writing(tmp_path):
    with pytest.raises(ConfigError, match="figure names"):
        write_report(tmp_path / "out", {"a": 1}, {"../escape": _figure()}, "t")
    assert not (tmp_path / "out").exists()


def test_classification_figures_render_into_report(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=300)
    labels = rng.integers(0, 5, size=300)
    names = [f"class_{i}$" for i in range(50)]
    figures = {
        "confusion_matrix": plot_confusion_matrix(rng.integers(0, 9, size=(50, 50)), names),
        "confusion_small": plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b"], normalize=False),
        "reliability": plot_reliability(
            reliability_bins(probs, labels), 0.05, reliability_bins(probs**2, labels), 0.2
        ),
        "worst": plot_image_grid(
            [
                np.zeros((8, 8), np.uint8),
                rng.random((3, 8, 8)),
                Image.new("L", (8, 8)),
                Image.new("RGB", (8, 8)),
            ],
            ["gray", "chw", "pil gray", "pil rgb"],
            ncols=3,
        ),
        "empty": plot_image_grid([], []),
    }
    write_report(tmp_path, {"accuracy": 0.5}, figures, "classify")
    for name in figures:
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    write_report(tmp_path, {"accuracy": 0.5}, {}, "first")
    before = (tmp_path / "report.json").read_text()

    def _fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", _fail)
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path, {"accuracy": 0.9}, {}, "second")
    assert (tmp_path / "report.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]
