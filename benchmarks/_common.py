"""Shared helpers of the benchmark scripts: machine description and JSON results."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
SHARED_DATA = Path(os.environ.get("SIGHTKIT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"


def machine() -> dict[str, Any]:
    """CPU, core count, torch threads and library versions, for the results file."""
    import torch

    import sightkit

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__, "sightkit": sightkit.__version__,
            "cuda": torch.cuda.is_available()}


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine, date and command."""
    from sightkit.core.fileio import atomic_write_text

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine(), **result}
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")  # a killed run leaves the old result whole
    print(json.dumps(payload, indent=2))
    return path
