"""``classify train --synthetic N --generator G``: N generated images per class, training split only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_synthetic_adds_n_per_class_to_the_training_split_only(cli, bundle_factory, pattern_data: Path,
                                                                tmp_path: Path) -> None:
    base = tmp_path / "base"
    code, _, err = cli("classify", "train", pattern_data, "--model", "skcnn_tiny", "--epochs", 1, "--out", base,
                       "--test-fraction", 0.25, "--no-progress", "--json")
    assert code == 0, err
    run = tmp_path / "run"
    code, _, err = cli("classify", "train", pattern_data, "--model", "skcnn_tiny", "--epochs", 1, "--out", run,
                       "--test-fraction", 0.25, "--synthetic", 5, "--generator", bundle_factory(), "--no-progress",
                       "--json")
    assert code == 0, err
    before, after = (json.loads((r / "splits.json").read_text()) for r in (base, run))
    assert after["val"] == before["val"] and after["test"] == before["test"]
    added = [p for p in after["train"] if p not in before["train"]]
    assert len(after["train"]) == len(before["train"]) + 10 and len(added) == 10
    assert sorted(Path(p).parent.name for p in added) == ["bright"] * 5 + ["dark"] * 5
    assert all(Path(p).is_relative_to(run / "synthetic") and Path(p).is_file() for p in added)
    assert not any(Path(p).is_relative_to(run / "synthetic") for p in after["val"] + after["test"])
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["synthetic"] == 5 and saved["generator"].endswith("gen")


@pytest.mark.parametrize(("classes", "args", "expected"), [
    (("bright", "dark"), ["--synthetic", "5"], "--synthetic 5 needs --generator BUNDLE"),
    (("bright", "dark"), ["--generator", "GEN"], "--generator is used only with --synthetic N"),
    (("bright",), ["--synthetic", "5", "--generator", "GEN"], "it has no class 'dark' of DATA"),
    ((), ["--synthetic", "5", "--generator", "GEN"], "an unconditional generator cannot make images of a class"),
])
def test_synthetic_errors_leave_no_run(cli, bundle_factory, pattern_data: Path, tmp_path: Path, classes, args,
                                       expected) -> None:
    args = [str(bundle_factory(classes=classes)) if a == "GEN" else a for a in args]
    code, out, err = cli("classify", "train", pattern_data, "--epochs", 1, "--out", tmp_path / "run", *args)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and out == "" and len(errors) == 1 and expected in errors[0], err
    assert not (tmp_path / "run").exists()
