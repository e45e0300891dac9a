"""Sample images from a synthesis bundle: seeded, batch-independent, as PIL images or PNG files.

Noise comes from a seeded ``torch.Generator`` drawn in one go, and the EMA generator runs in
eval mode (fixed batch-norm statistics), so a seed gives the same images whatever the batch
size, and the same images again after a bundle is saved and loaded.

Example:
    >>> sampler = Sampler.from_bundle("runs/x/model")  # doctest: +SKIP
    >>> images = sampler.sample(16, class_name="7", seed=1)  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from sightkit.core.bundle import load_bundle
from sightkit.core.fileio import atomic_write_bytes
from sightkit.core.folders import removed_on_failure
from sightkit.errors import ConfigError
from sightkit.tasks.generate.data import tensor_to_pil
from sightkit.tasks.generate.gan_module import GRID_COLUMNS, image_grid
from sightkit.tasks.generate.model import SynthGenerator, create_generator

TASK = "generate"
BATCH = 256


class Sampler:
    """A trained generator with its class names and output mode."""

    def __init__(self, model: SynthGenerator, meta: dict[str, Any], device: str = "cpu") -> None:
        self.meta, self.device = meta, torch.device(device)
        self.model = model.to(self.device).eval()
        self.classes: list[str] = list(meta.get("classes", []))
        self.mode: str = meta["preprocessing"]["mode"]

    @classmethod
    def from_bundle(cls, path: str | Path, device: str = "cpu") -> Sampler:
        """Load a ``generate`` bundle (folder or ``.sightkit``); never unpickles."""
        state, meta = load_bundle(path, task=TASK)
        arch = meta["architecture"]
        model = create_generator(arch["name"], arch["size"], arch["channels"], arch["num_classes"], arch["z_dim"],
                                 arch["width"])
        model.load_state_dict(state)
        return cls(model, meta, device)

    @property
    def conditional(self) -> bool:
        """Whether the generator takes a class per sample."""
        return bool(self.model.num_classes)

    def labels_for(self, n: int, class_name: str | None) -> torch.Tensor | None:
        """Class indices of ``n`` samples: all ``class_name``, else every class in turn (None if unconditional)."""
        if n < 1:
            raise ConfigError(f"-n {n}: ask for at least 1 image")
        if class_name is not None:
            if not self.conditional:
                raise ConfigError(f"--class {class_name!r}: this model is unconditional (it has no classes); "
                                  "sample without --class")
            if class_name not in self.classes:
                close = difflib.get_close_matches(class_name, self.classes, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"--class {class_name!r} is not a class of this model{hint}; its classes: "
                                  f"{', '.join(self.classes)}")
            return torch.full((n,), self.classes.index(class_name), dtype=torch.long)
        return torch.arange(n) % len(self.classes) if self.conditional else None

    @torch.inference_mode()
    def sample_tensor(self, n: int, class_name: str | None = None, seed: int = 0,
                      progress: Callable[[int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(images in [-1, 1] NCHW, class indices or None)`` of ``n`` seeded samples."""
        labels = self.labels_for(n, class_name)
        z = torch.randn(n, self.model.z_dim, generator=torch.Generator().manual_seed(seed))
        chunks = []
        for start in range(0, n, BATCH):
            stop = min(n, start + BATCH)
            batch_labels = None if labels is None else labels[start:stop].to(self.device)
            chunks.append(self.model(z[start:stop].to(self.device), batch_labels).float().cpu())
            if progress is not None:
                progress(stop - start)
        return torch.cat(chunks), labels

    def sample(self, n: int, class_name: str | None = None, seed: int = 0,
               progress: Callable[[int], None] | None = None) -> list[Image.Image]:
        """``n`` seeded samples as PIL images (``L`` or ``RGB``, the training data's mode)."""
        images, _ = self.sample_tensor(n, class_name, seed, progress)
        return [tensor_to_pil(t) for t in to_uint8(images)]

    def write_samples(self, n: int, out_dir: str | Path, class_name: str | None = None, seed: int = 0,
                      progress: Callable[[int], None] | None = None) -> list[Path]:
        """Write ``n`` PNGs and ``grid.png`` into ``out_dir``; every file atomically, nothing on failure.

        Files are named ``<class>_<NNNN>.png`` (conditional) or ``sample_<NNNN>.png``. Returns the PNG paths.
        """
        images, labels = self.sample_tensor(n, class_name, seed, progress)  # validates before any file is made
        names = [f"{self.classes[int(labels[i])] if labels is not None else 'sample'}_{i:04d}.png" for i in range(n)]
        with removed_on_failure(out_dir) as folder:
            paths = [atomic_write_bytes(folder / name, _png(tensor_to_pil(image)))
                     for name, image in zip(names, to_uint8(images))]
            grid = image_grid(images, min(GRID_COLUMNS, n) if class_name or not self.conditional
                              else min(n, len(self.classes)))
            atomic_write_bytes(folder / "grid.png", _png(Image.fromarray(grid)))
        return paths


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 in [0, 255]."""
    return images.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
