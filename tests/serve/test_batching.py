"""Micro-batching: concurrent requests share batches, bounded in size, wait and queue; one bad item fails alone."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sightkit.serve.batching import MicroBatcher, ModelWorker, Overloaded


def run(coroutine):
    return asyncio.run(coroutine)


def recording_model(batches: list[list[int]], delay: float = 0.0):
    def model(items):
        batches.append(list(items))
        time.sleep(delay)
        return [item * 10 for item in items]
    return model


def test_concurrent_requests_share_batches_of_bounded_size() -> None:
    batches: list[list[int]] = []

    async def main():
        worker = ModelWorker("m", lambda: recording_model(batches, delay=0.02))
        await worker.start()
        batcher = MicroBatcher(worker, max_batch=8, max_wait_s=0.05, max_queue=100)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
        await batcher.close()
        worker.close()
        return results

    assert run(main()) == [i * 10 for i in range(20)]
    assert max(len(b) for b in batches) == 8 and len(batches) <= 4
    assert sorted(i for b in batches for i in b) == list(range(20))


def test_a_lone_request_waits_at_most_max_wait() -> None:
    async def main():
        worker = ModelWorker("m", lambda: recording_model([]))
        await worker.start()
        batcher = MicroBatcher(worker, max_batch=64, max_wait_s=0.02, max_queue=10)
        start = time.perf_counter()
        await batcher.submit(1)
        elapsed = time.perf_counter() - start
        await batcher.close()
        worker.close()
        return elapsed

    assert run(main()) < 0.5


def test_full_queue_raises_overloaded_with_retry_after() -> None:
    release = threading.Event()

    def blocking(items):
        release.wait(5)
        return items

    async def main():
        worker = ModelWorker("m", lambda: blocking)
        await worker.start()
        batcher = MicroBatcher(worker, max_batch=1, max_wait_s=0, max_queue=2)
        running = [asyncio.create_task(batcher.submit(0))]
        await asyncio.sleep(0.05)  # 0 is in the model; 1 and 2 fill the queue
        running += [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as refused:
            await batcher.submit(99)
        release.set()
        done = await asyncio.gather(*running)
        await batcher.close()
        worker.close()
        return refused.value, done

    refused, done = run(main())
    assert refused.retry_after >= 1 and "retry" in str(refused)
    assert done == [0, 1, 2]


def test_one_bad_item_fails_only_its_own_request() -> None:
    def picky(items):
        if any(item < 0 for item in items):
            raise ValueError("negative")
        return [item + 1 for item in items]

    async def main():
        worker = ModelWorker("m", lambda: picky)
        await worker.start()
        batcher = MicroBatcher(worker, max_batch=8, max_wait_s=0.05, max_queue=10)
        results = await asyncio.gather(*(batcher.submit(i) for i in (1, -1, 2)), return_exceptions=True)
        await batcher.close()
        worker.close()
        return results

    good, bad, other = run(main())
    assert (good, other) == (2, 3) and isinstance(bad, ValueError)


def test_worker_runs_everything_on_its_own_thread() -> None:
    async def main():
        worker = ModelWorker("m", threading.get_ident)
        loaded_on = await worker.start()
        used_on = await worker.call(lambda model: threading.get_ident())
        worker.close()
        return loaded_on, used_on

    loaded_on, used_on = run(main())
    assert loaded_on == used_on != threading.get_ident()
