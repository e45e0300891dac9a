"""A real ``sightkit serve`` process: it starts, answers, and on SIGTERM finishes the request in flight."""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
from PIL import Image


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


def test_sigterm_lets_the_request_in_flight_finish() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "sightkit", "serve", "--upscaler", "default-x2", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(url, process)
        buffer = io.BytesIO()
        pixels = np.random.default_rng(0).integers(0, 255, (600, 600, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, "PNG")
        answers: list[httpx.Response] = []
        request = threading.Thread(target=lambda: answers.append(httpx.post(
            f"{url}/v1/enhance/upscale", files={"file": ("big.png", buffer.getvalue())}, timeout=120)))
        request.start()
        time.sleep(0.5)  # the upscale (several seconds on 2 cores) is running
        process.send_signal(signal.SIGTERM)
        request.join(120)
        assert answers and answers[0].status_code == 200
        assert Image.open(io.BytesIO(answers[0].content)).size == (1200, 1200)
        assert process.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    finally:
        if process.poll() is None:
            process.kill()
    log_lines = [line for line in process.stderr.read().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in log_lines]
    assert any(r["route"] == "/v1/enhance/upscale" and r["status"] == 200 for r in records)
