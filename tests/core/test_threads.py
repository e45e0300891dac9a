"""Thread settings reach PyTorch, ONNX Runtime sessions and the loader-worker choice."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from sightkit.core import threads
from sightkit.errors import ConfigError


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.delenv(threads.THREADS_ENV_VAR, raising=False)
    threads.set_threads(None)  # start from the default, whatever earlier tests of the process left set
    yield
    threads._threads = None
    torch.set_num_threads(before)


@pytest.mark.parametrize("busy, spinning", [(True, "0"), (False, "1")])
def test_set_threads_reaches_torch_and_is_the_default_for_onnxruntime(monkeypatch, busy, spinning):
    import onnxruntime as ort
    import torch

    monkeypatch.setattr(threads, "machine_is_busy", lambda: busy)
    assert threads.set_threads(1) == 1
    assert torch.get_num_threads() == 1
    options = threads.configure_onnxruntime(ort.SessionOptions())
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == spinning
    assert threads.configure_onnxruntime(ort.SessionOptions(), threads=3).intra_op_num_threads == 3


def test_environment_variable_is_the_default_and_set_threads_none_returns_to_it(monkeypatch):
    monkeypatch.setenv(threads.THREADS_ENV_VAR, "1")
    assert threads.compute_threads() == 1
    threads.set_threads(2)
    assert threads.compute_threads() == 2
    threads.set_threads(None)
    assert threads.compute_threads() == 1


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_environment_values_are_config_errors(monkeypatch, value):
    monkeypatch.setenv(threads.THREADS_ENV_VAR, value)
    with pytest.raises(ConfigError, match=threads.THREADS_ENV_VAR):
        threads.compute_threads()
    with pytest.raises(ConfigError):
        threads.set_threads(0)


def test_loader_workers_use_only_cores_compute_leaves_free():
    cores = threads.cpu_count()
    assert threads.loader_workers(None, compute=cores) == 0
    assert threads.loader_workers(None, compute=1, limit=1) == (1 if cores > 1 else 0)
    assert threads.loader_workers(3, compute=cores) == 3  # an explicit request is kept


@pytest.mark.parametrize("busy, preset, expected", [
    (True, {}, "PASSIVE"),
    (False, {}, None),                                # idle: libgomp's spinning is faster
    (True, {"GOMP_SPINCOUNT": "300000"}, None),        # the user's choice is kept
])
def test_prepare_process_makes_waiting_threads_sleep_on_a_busy_machine(monkeypatch, busy, preset, expected):
    for name in threads.WAIT_POLICY_ENV_VARS + ("OMP_NUM_THREADS",):
        monkeypatch.delenv(name, raising=False)
    for name, value in preset.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(threads, "machine_is_busy", lambda: busy)
    monkeypatch.setenv(threads.THREADS_ENV_VAR, "1")
    threads.prepare_process()
    assert os.environ.get("OMP_WAIT_POLICY") == expected
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_busy_threads_are_seen_and_background_ones_ignored():
    if os.nice(0) >= threads.BACKGROUND_NICE:
        pytest.skip("the tests run niced: a child cannot run at normal priority")
    code = "import os, sys; os.nice(int(sys.argv[1]))\nwhile True: pass"
    busy = subprocess.Popen([sys.executable, "-c", code, "0"])
    background = subprocess.Popen([sys.executable, "-c", code, "19"])
    try:
        time.sleep(0.3)
        looks = []
        for _ in range(20):
            looks.append(threads._busy_threads())
            time.sleep(0.01)
        assert any(busy.pid in look for look in looks)
        assert not any(background.pid in look for look in looks)
        assert threads.busy_threads_elsewhere(samples=2) >= 0
    finally:
        for process in (busy, background):
            process.kill()
            process.wait()


def _sleepy_call(per_thread: dict[int, float]):
    import time

    import torch

    def call() -> int:
        count = torch.get_num_threads()
        time.sleep(per_thread[count])
        return count
    return call


def test_fastest_thread_count_keeps_the_faster_count_per_key():
    import torch

    cores = threads.cpu_count()
    if cores == 1:
        pytest.skip("one core: nothing to choose")
    chooser = threads.FastestThreadCount(trials=2)
    slow_many = _sleepy_call({1: 0.001, cores: 0.02})
    used = [chooser.run("small", slow_many) for _ in range(6)]
    assert sorted(used[:4]) == [1, 1, cores, cores]  # the trials alternate
    assert chooser.chosen("small") == 1 and used[4:] == [1, 1]
    fast_many = _sleepy_call({1: 0.02, cores: 0.001})
    for _ in range(5):
        chooser.run("large", fast_many)
    assert chooser.chosen("large") == cores
    assert torch.get_num_threads() == threads.compute_threads()  # restored after each call


def test_fastest_thread_count_obeys_an_explicit_count():
    import torch

    threads.set_threads(1)
    chooser = threads.FastestThreadCount(trials=1)
    assert [chooser.run("k", torch.get_num_threads) for _ in range(3)] == [1, 1, 1]
    assert chooser.chosen("k") is None


def test_set_threads_reaches_faiss_when_it_is_loaded():
    faiss = pytest.importorskip("faiss")

    before = faiss.omp_get_max_threads()
    try:
        threads.set_threads(1)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)
