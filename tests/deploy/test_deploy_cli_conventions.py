"""The deploy commands through the real entry point: results on stdout, one ``error:`` line with
exit code 2, options checked before a model loads, and no run folder left by a failed run."""

from __future__ import annotations

import pytest


def _one_error(code: int, out: str, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    return lines[0]


def test_export_and_quantize_print_their_results_on_stdout(cli, tiny_bundle, colour_data, tmp_path) -> None:
    code, out, err = cli("export", tiny_bundle, "--out", tmp_path / "m.onnx")
    assert code == 0 and out.startswith(f"wrote {tmp_path / 'm.onnx'} (") and "parity on" in out and err == ""

    code, out, err = cli("quantize", tiny_bundle, "--calib", colour_data / "train", "--calib-size", "8",
                         "--val", colour_data / "val", "--out", tmp_path / "q.onnx")
    assert code == 0 and out.startswith(f"wrote {tmp_path / 'q.onnx'} (") and "top-1 on 24 images" in out
    assert "top-1" not in err


@pytest.mark.parametrize(("args", "named"), [
    (["quantize", "{missing}", "--mode", "fast"], "--mode 'fast'"),
    (["quantize", "{missing}", "--method", "kl"], "--method 'kl'"),
    (["prune", "{missing}", "--data", "{missing}", "--ratio", "1.5"], "--ratio 1.5"),
    (["distill", "{missing}", "--student", "skcnn_tiny", "--data", "{missing}", "--temperature", "0"],
     "--temperature"),
    (["bench", "{missing}", "--backends", "tflite"], "--backends tflite"),
    (["bench", "{missing}", "--batch", "1,x"], "--batch '1,x'"),
    (["bench", "{missing}", "--repeats", "0"], "--repeats"),
])
def test_bad_options_are_one_error_before_the_bundle_is_read(cli, tmp_path, args, named) -> None:
    missing = str(tmp_path / "missing")
    line = _one_error(*cli(*[a.format(missing=missing) for a in args]))
    assert named in line


@pytest.mark.parametrize("command", [["prune"], ["distill", "--student", "skcnn_tiny"]])
def test_missing_data_fails_before_the_model_loads_and_leaves_no_run(cli, tiny_bundle, tmp_path, command) -> None:
    run = tmp_path / "runs" / "x"
    line = _one_error(*cli(command[0], tiny_bundle, *command[1:], "--data", tmp_path / "gone", "--out", run))
    assert line == f"error: --data {tmp_path / 'gone'}: no such folder or file; give the data the model was trained on"
    assert not (tmp_path / "runs").exists()


def test_an_unknown_student_fails_before_the_teacher_loads(cli, tiny_bundle, colour_data, tmp_path) -> None:
    run = tmp_path / "run"
    line = _one_error(*cli("distill", tiny_bundle, "--student", "no_such_net", "--data", colour_data, "--out", run))
    assert "no_such_net" in line and not run.exists()


def test_a_run_that_fails_while_fine_tuning_is_removed(cli, tiny_bundle, colour_data, tmp_path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from sightkit.errors import DataError

    def failing_loaders(*args, **kwargs):
        raise DataError("loaders failed")

    monkeypatch.setattr("sightkit.deploy.finetune._loaders", failing_loaders)
    run = tmp_path / "runs" / "pruned"
    code, out, err = cli("prune", tiny_bundle, "--data", colour_data, "--epochs", "1", "--out", run,
                         "--no-progress")
    assert code == 2 and out == "" and err.strip().splitlines()[-1] == "error: loaders failed"
    assert not (tmp_path / "runs").exists()


def test_prune_summary_goes_to_stdout_with_paths_in_full(cli, tiny_bundle, colour_data, tmp_path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from sightkit.deploy.prune import PruneResult

    bundle = tmp_path / ("a-long-folder-name-" * 4) / "model"
    monkeypatch.setattr("sightkit.deploy.prune.prune_bundle", lambda *args, **kwargs: PruneResult(
        bundle, {"ratio": 0.25, "params_before": 1234, "accuracy_after": 0.5}))
    code, out, err = cli("prune", tiny_bundle, "--data", colour_data, "--out", tmp_path / "run")
    assert code == 0 and err == ""
    assert out.splitlines() == [f"bundle          {bundle}", "ratio           0.2500", "params_before   1,234",
                                "accuracy_after  0.5000"]
