"""Fixtures of the synthesis tests: tiny image folders and untrained bundles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

# Options of a tiny model that trains in a fraction of a second per epoch on CPU.
TINY = {"z_dim": 8, "width": 4, "disc_width": 4, "batch_size": 8, "epochs": 1, "device": "cpu"}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and the test machines are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def pattern_data(tmp_path: Path, dataset_writer) -> Path:
    """Two classes, ``bright`` and ``dark``, 16 grey 16x16 PNGs each."""
    return dataset_writer(tmp_path / "data", per_class=16, size=16, classes=("dark", "bright"))


@pytest.fixture
def tiny() -> dict:
    """Training options of a tiny model (test files cannot import this conftest reliably)."""
    return dict(TINY)


@pytest.fixture
def bundle_factory(tmp_path: Path) -> Callable[..., Path]:
    """``bundle_factory(classes=("a", "b"), name="gen", channels=1)`` -> an untrained generate bundle
    (``cgan`` with classes, ``dcgan`` with none)."""
    from sightkit.core.bundle import save_bundle
    from sightkit.tasks.generate.model import create_generator

    def make(classes: tuple[str, ...] = ("bright", "dark"), name: str = "gen", channels: int = 1) -> Path:
        torch.manual_seed(0)
        arch = "cgan" if classes else "dcgan"
        model = create_generator(arch, 32, channels, len(classes), TINY["z_dim"], TINY["width"])
        meta = {"task": "generate",
                "architecture": {"name": arch, "size": 32, "channels": channels, "num_classes": len(classes),
                                 "z_dim": TINY["z_dim"], "width": TINY["width"]},
                "classes": list(classes), "preprocessing": {"mode": "L" if channels == 1 else "RGB", "size": 32}}
        return save_bundle(tmp_path / name, model.state_dict(), meta)

    return make
