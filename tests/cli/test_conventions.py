"""The conventions every command shares: one ``error:`` line with exit 2, readable help, ``--threads``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "80", "PYTHONWARNINGS": "ignore"}


@pytest.mark.parametrize("args, expected", [
    (("classify", "predict", "m", "x.png", "-k", "0"), "'-k'"),
    (("classify", "predict", "m", "x.png", "--format", "xml"), "'xml' is not one of"),
    (("--threads", "0", "info", "m"), "'--threads'"),
    (("classify", "predict"), "Missing argument"),
    (("classify", "nosuchaction"), "No such command"),
])
def test_usage_errors_are_one_error_line_with_exit_2(cli, args, expected):
    code, out, err = cli(*args)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
    assert "Value error" not in err and "╭" not in err


def test_bad_threads_variable_is_one_error_line(cli, monkeypatch):
    monkeypatch.setenv("SIGHTKIT_THREADS", "many")
    code, _, err = cli("info", "m")
    assert code == 2
    assert err.strip() == "error: SIGHTKIT_THREADS=many: give a whole number of threads, at least 1"


def test_debug_keeps_the_exit_code_and_shows_the_traceback():
    result = subprocess.run([sys.executable, "-m", "sightkit", "--debug", "info", "no/such/bundle"],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 2
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("args", [("--help",), ("classify", "train", "--help"), ("classify", "predict", "--help"),
                                  ("face", "identify", "--help"), ("bench", "--help"), ("explain", "--help")])
def test_help_has_plain_metavars_and_fits_80_columns(cli, args):
    code, out, _ = cli(*args)
    assert code == 0
    for bad in ("<bool>", "<list[", "<path>", "<int>", "{", " .\n"):
        assert bad not in out, bad
    assert max(len(line) for line in out.splitlines()) <= 80


def test_threads_option_reaches_torch(cli):
    import torch

    before = torch.get_num_threads()
    try:
        code, out, _ = cli("--threads", "1", "classify", "models", "skcnn_*")
        assert code == 0 and "skcnn_small" in out
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
