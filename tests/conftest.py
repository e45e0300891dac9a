"""Shared fixtures: tiny generated image datasets whose classes a CNN learns in 1-3 epochs.

Classes are simple visual patterns on 8-bit grey images: ``dark`` (mean ~40), ``bright``
(mean ~215) and ``stripes`` (alternating black/white rows), each with a little noise so
no two files are identical.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PATTERNS = ("dark", "bright", "stripes")


def pattern_pixels(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size`` x ``size`` uint8 image of the pattern ``name``."""
    noise = rng.integers(-20, 21, size=(size, size))
    if name == "dark":
        base = np.full((size, size), 40)
    elif name == "bright":
        base = np.full((size, size), 215)
    elif name == "stripes":
        base = np.zeros((size, size), dtype=int)
        base[::2] = 255
    else:
        raise ValueError(name)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def write_dataset(root: Path, per_class: int = 12, size: int = 12, classes: Sequence[str] = ("dark", "bright"),
                  mode: str = "L", seed: int = 0, suffix: str = ".png") -> Path:
    """Write ``root/<class>/<i>.png`` images and return ``root``."""
    rng = np.random.default_rng(seed)
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = Image.fromarray(pattern_pixels(name, size, rng), mode="L")
            img.convert(mode).save(folder / f"{name}_{i:03d}{suffix}")
    return root


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_dataset("name", per_class=..., size=..., classes=..., mode=...)`` under tmp_path."""

    def make(name: str = "data", **kwargs) -> Path:
        return write_dataset(tmp_path / name, **kwargs)

    return make


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """Two classes (dark, bright), 12 grey 12x12 PNGs each, one folder per class."""
    return write_dataset(tmp_path / "data")


@pytest.fixture(scope="session")
def dataset_writer() -> Callable[..., Path]:
    """The :func:`write_dataset` function, for module-scoped fixtures and tests that write several datasets.

    (Test files cannot ``from conftest import ...`` reliably: several folders have a conftest.py.)
    """
    return write_dataset


@pytest.fixture(scope="session")
def pattern_maker() -> Callable[[str, int, np.random.Generator], np.ndarray]:
    """The :func:`pattern_pixels` function: one image of a named pattern."""
    return pattern_pixels


@pytest.fixture
def cli(monkeypatch, capsys) -> Callable[..., tuple[int, str, str]]:
    """Run ``sightkit ARGS`` in-process through ``cli.main.run`` (the console script's entry point).

    Returns ``(exit code, stdout, stderr)``: ``code, out, err = cli("classify", "models", "zzz*")``.
    """
    from sightkit.cli import main as cli_main

    def run(*args: str | Path) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["sightkit", *map(str, args)])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            cli_main.run()
        out = capsys.readouterr()
        code = exit_info.value.code
        return (0 if code is None else code), out.out, out.err

    return run
