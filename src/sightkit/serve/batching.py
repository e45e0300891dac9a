"""Model work off the event loop: one worker thread per model, and micro-batching of requests.

A :class:`ModelWorker` owns a model and runs every call on its own thread, so the event
loop keeps serving while the CPU computes, a model is never used from two threads at once
(SQLite galleries and dlib are not thread-safe), and PyTorch's own threads do the parallel
work inside each call. A :class:`MicroBatcher` in front of it gathers concurrent requests
into one batch (up to ``max_batch``, waiting at most ``max_wait_s`` for more once the
first arrives; requests that queue while a batch runs form the next one) and refuses new
ones with :class:`Overloaded` when ``max_queue`` are already waiting.

Example:
    >>> import asyncio
    >>> worker = ModelWorker("double", lambda: (lambda items: [2 * x for x in items]))
    >>> async def main():
    ...     await worker.start()
    ...     batcher = MicroBatcher(worker, max_batch=8, max_wait_s=0.01, max_queue=16)
    ...     results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    ...     await batcher.close(); worker.close()
    ...     return results
    >>> asyncio.run(main())
    [0, 2, 4, 6, 8]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Overloaded(Exception):
    """Too many requests are waiting for one model; try again after ``retry_after`` seconds."""

    def __init__(self, model: str, retry_after: int) -> None:
        super().__init__(f"{model} is busy ({retry_after} s of work queued); retry later")
        self.retry_after = retry_after


class ModelWorker:
    """A model loaded and used on one dedicated thread.

    ``load`` runs on that thread at :meth:`start`; :meth:`call` runs ``fn(model, *args)`` there.
    """

    def __init__(self, name: str, load: Callable[[], Any]) -> None:
        self.name = name
        self._load = load
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sightkit-{name}")
        self.model: Any = None
        self.load_seconds = 0.0

    async def start(self) -> Any:
        """Load the model on the worker thread; returns it."""
        start = time.perf_counter()
        self.model = await asyncio.get_running_loop().run_in_executor(self._executor, self._load)
        self.load_seconds = time.perf_counter() - start
        return self.model

    async def call(self, fn: Callable[..., R], *args: Any) -> R:
        """``fn(model, *args)`` on the worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self.model, *args)

    def close(self) -> None:
        """Finish the calls already submitted, then stop the thread."""
        self._executor.shutdown(wait=True)


class MicroBatcher(Generic[T, R]):
    """Concurrent single-item requests in, one batched call of the model per gathered group.

    ``worker.model`` (or ``run`` when given) is called with a list of items and returns one
    result per item, or an exception instance for an item that failed alone.
    """

    def __init__(self, worker: ModelWorker, *, max_batch: int, max_wait_s: float, max_queue: int,
                 run: Callable[[Any, Sequence[T]], Sequence[R | BaseException]] | None = None,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.worker, self.max_batch, self.max_wait_s, self.max_queue = worker, max_batch, max_wait_s, max_queue
        self._run = run or (lambda model, items: model(items))
        self._on_batch = on_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._seconds_per_item = 0.05  # running estimate, for Retry-After

    @property
    def waiting(self) -> int:
        """Requests queued and not yet in a batch."""
        return self._queue.qsize()

    async def submit(self, item: T) -> R:
        """Queue ``item``, wait for its batch, and return its result (or raise its error)."""
        if self._queue.qsize() >= self.max_queue:
            raise Overloaded(self.worker.name, max(1, round(self._queue.qsize() * self._seconds_per_item)))
        if self._task is None:
            self._task = asyncio.create_task(self._serve())
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def close(self) -> None:
        """Stop gathering (call once nothing is in flight: at shutdown)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _serve(self) -> None:
        while True:
            batch = await self._gather()
            items = [item for item, _ in batch]
            start = time.perf_counter()
            results = await self.worker.call(self._run_isolated, items)
            self._seconds_per_item = 0.8 * self._seconds_per_item + 0.2 * (time.perf_counter() - start) / len(batch)
            if self._on_batch:
                self._on_batch(len(batch))
            for (_, future), result in zip(batch, results):
                if future.done():  # the client went away
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _run_isolated(self, model: Any, items: Sequence[T]) -> Sequence[R | BaseException]:
        """The batch's results; when the batch fails, each item alone, so one bad image fails only its request."""
        try:
            return self._run(model, items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
        results: list[R | BaseException] = []
        for item in items:
            try:
                results.extend(self._run(model, [item]))
            except Exception as exc:
                results.append(exc)
        return results

    async def _gather(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch
