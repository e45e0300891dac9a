"""Compute threads: one setting for PyTorch, ONNX Runtime, OpenCV and data-loader workers.

``sightkit --threads N``, ``SIGHTKIT_THREADS=N`` or :func:`set_threads` choose the number of
compute threads; without them every core is used. Either way the thread pools are set up to
share the CPU well with other processes (``docs/threads.md`` has the measurements):

- **On a busy machine, waiting threads sleep instead of spinning.** PyTorch's OpenMP pool
  (libgomp) and ONNX Runtime's pool busy-wait between operations. When other processes keep
  the cores busy, a spinning thread burns the time slice its partner needs to finish the same
  operation, and every operation waits for the scheduler: sightkit beside two other PyTorch
  jobs on 2 cores ran at 0.05-0.11 of its idle speed. When other processes are running at
  start-up (:func:`busy_threads_elsewhere`), :func:`prepare_process` sets
  ``OMP_WAIT_POLICY=PASSIVE`` before PyTorch starts and ONNX Runtime sessions turn spinning
  off. On an idle machine spinning is kept: it saves a wake-up per operation (up to ~20% on
  batched inference).
- **Small work runs on one thread** when that is faster (:class:`FastestThreadCount`).
- **Loader workers only on cores the compute threads leave free** (:func:`loader_workers`).

Example:
    >>> import sightkit
    >>> sightkit.set_threads(2)          # torch, ONNX Runtime sessions made later, OpenCV
    2
"""

from __future__ import annotations

import functools
import glob
import os
import statistics
import sys
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

THREADS_ENV_VAR = "SIGHTKIT_THREADS"
WAIT_POLICY_ENV_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
BACKGROUND_NICE = 10  # processes at this niceness or lower priority do not make the machine "busy"

_threads: int | None = None  # set by set_threads(); None = the default


def cpu_count() -> int:
    """Cores this process may run on (its CPU affinity, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def prepare_process() -> None:
    """Set the thread pools' environment; call before ``import torch`` (they read it once).

    On a busy machine (:func:`machine_is_busy`) waiting threads sleep (``OMP_WAIT_POLICY=PASSIVE``);
    ``SIGHTKIT_THREADS`` becomes ``OMP_NUM_THREADS``. A variable the user has set is kept.
    Called by the ``sightkit`` command, by :func:`set_threads` and by the first use of
    ``sightkit.Classifier`` / ``FaceGallery`` / ``Upscaler``; a Python program that imports
    torch first should set ``OMP_WAIT_POLICY=PASSIVE`` itself when it runs beside other jobs.
    """
    if not any(name in os.environ for name in WAIT_POLICY_ENV_VARS) and machine_is_busy():
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    requested = _from_env()
    if requested is not None:
        os.environ.setdefault("OMP_NUM_THREADS", str(requested))


@functools.cache
def machine_is_busy() -> bool:
    """Whether other processes were running at normal priority when this process first asked.

    Decided once per process, from :func:`busy_threads_elsewhere`, so that every thread pool
    of the process makes the same choice.
    """
    return busy_threads_elsewhere() >= 1


def busy_threads_elsewhere(samples: int = 3, interval: float = 0.01) -> float:
    """Median number of other processes' runnable threads at normal priority, over ``samples`` looks.

    Reads each thread's state and niceness from ``/proc`` (Linux); threads at niceness
    ``BACKGROUND_NICE`` or more are background work that yields to sightkit anyway. 0 where
    ``/proc`` is missing. Takes ``samples * interval`` seconds plus ~5 ms per look.

    Example:
        >>> busy_threads_elsewhere() >= 0
        True
    """
    if not os.path.isdir("/proc/self/task"):
        return 0.0
    counts = []
    for look in range(samples):
        if look:
            time.sleep(interval)
        counts.append(len(_busy_threads()))
    return statistics.median(counts)


def _busy_threads() -> list[int]:
    """One look at ``/proc``: the process id of each other process's runnable thread at normal priority."""
    own = os.getpid()
    busy = []
    for path in glob.glob("/proc/[0-9]*/task/[0-9]*/stat"):
        pid = int(path.split("/")[2])
        if pid == own:
            continue
        try:
            with open(path, "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the thread ended while we looked
        if fields[0] == b"R" and int(fields[16]) < BACKGROUND_NICE:  # state, niceness
            busy.append(pid)
    return busy


def set_threads(threads: int | None) -> int:
    """Use ``threads`` compute threads in PyTorch, ONNX Runtime sessions created later, OpenCV and faiss (when loaded).

    ``None`` goes back to the default (``SIGHTKIT_THREADS`` or every core). Returns the
    number now in use.

    Example:
        >>> set_threads(1)
        1
    """
    global _threads
    if threads is not None and threads < 1:
        from sightkit.errors import ConfigError

        raise ConfigError(f"--threads {threads}: give at least 1")
    if "torch" not in sys.modules:
        prepare_process()
    _threads = threads
    count = compute_threads()
    import torch

    torch.set_num_threads(count)
    try:  # allowed once per process, before any inter-op work
        torch.set_num_interop_threads(count)
    except RuntimeError:
        pass
    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(count)
    if "faiss" in sys.modules:  # the face gallery's index: its wheel carries its own OpenMP runtime
        sys.modules["faiss"].omp_set_num_threads(count)
    return count


def compute_threads() -> int:
    """The number of compute threads to use: :func:`set_threads`, else ``SIGHTKIT_THREADS``, else every core.

    Example:
        >>> compute_threads() >= 1
        True
    """
    if _threads is not None:
        return _threads
    return _from_env() or cpu_count()


def configure_onnxruntime(options: Any, threads: int | None = None) -> Any:
    """Set an ``onnxruntime.SessionOptions``' threads (``threads`` or :func:`compute_threads`); spinning off when busy.

    Example:
        >>> import onnxruntime as ort
        >>> options = configure_onnxruntime(ort.SessionOptions())
        >>> options.intra_op_num_threads == compute_threads()
        True
    """
    options.intra_op_num_threads = threads or compute_threads()
    options.inter_op_num_threads = 1
    spinning = "0" if machine_is_busy() else "1"
    options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
    options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    return options


def loader_workers(requested: int | None, compute: int | None = None, limit: int = 4) -> int:
    """Data-loader worker processes: ``requested`` if given, else the cores compute leaves free (at most ``limit``).

    Example:
        >>> loader_workers(None, compute=2)   # on a 2-core machine: 0, decoding in the main process
        0
    """
    if requested is not None:
        return requested
    spare = cpu_count() - (compute if compute is not None else compute_threads())
    return max(0, min(limit, spare))


class FastestThreadCount:
    """Run each call with whichever of 1 thread and :func:`compute_threads` is faster for its kind of input.

    Small work (a 28 px image, one at a time) runs faster on one thread than on two, even
    on an idle machine: the second thread costs a wake-up per operation and saves little.
    The first ``2 * trials`` calls of each ``key`` (e.g. the batch shape) alternate the two
    counts and keep the faster; they are the real calls, so nothing is computed twice. An
    explicit thread count (:func:`set_threads`, ``SIGHTKIT_THREADS``) is used as it is.

    Example:
        >>> chooser = FastestThreadCount()
        >>> logits = chooser.run(tuple(batch.shape), lambda: model(batch))  # doctest: +SKIP
    """

    def __init__(self, trials: int = 3) -> None:
        self.trials = trials
        self._trials: dict[Hashable, list[tuple[int, float]]] = {}
        self._chosen: dict[Hashable, int] = {}

    def run(self, key: Hashable, call: Callable[[], T]) -> T:
        """``call()`` under the thread count chosen (or being tried) for ``key``."""
        import torch

        most = compute_threads()
        if _threads is not None or _from_env() is not None or most == 1:
            return call()
        trials = self._trials.setdefault(key, [])
        count = self._chosen.get(key) or (1, most)[len(trials) % 2]
        previous = torch.get_num_threads()
        torch.set_num_threads(count)
        try:
            start = time.perf_counter()
            result = call()
            elapsed = time.perf_counter() - start
        finally:
            torch.set_num_threads(previous)
        if key not in self._chosen:
            trials.append((count, elapsed))
            if len(trials) >= 2 * self.trials:
                fastest = {c: min(t for n, t in trials if n == c) for c, _ in trials}
                self._chosen[key] = min(fastest, key=fastest.__getitem__)
        return result

    def chosen(self, key: Hashable) -> int | None:
        """The thread count chosen for ``key``, once its trials are done (else None)."""
        return self._chosen.get(key)


def _from_env() -> int | None:
    value = os.environ.get(THREADS_ENV_VAR, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        from sightkit.errors import ConfigError

        raise ConfigError(f"{THREADS_ENV_VAR}={value}: give a whole number of threads, at least 1")
    return int(value)
