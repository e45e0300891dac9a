"""Generated training images for a classifier: ``sightkit classify train DATA --synthetic N --generator G``.

N images per class are sampled from a class-conditional generator bundle, written as PNGs
(``<folder>/<class>/synthetic_NNNN.png``) and added to the *training* split only: validation
and test images stay real, so every reported number is measured on real data. Samples are
seeded (class ``i`` uses ``seed + i``), so a resumed run writes the same images again.

Example:
    >>> splits = add_synthetic(splits, "runs/gan/model", 50, Path("runs/clf/synthetic"), seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable
from pathlib import Path

from sightkit.core.fileio import atomic_write_bytes
from sightkit.data.discover import DatasetSplits, Sample
from sightkit.errors import ConfigError
from sightkit.tasks.generate.predict import Sampler

log = logging.getLogger(__name__)


def add_synthetic(splits: DatasetSplits, generator: str | Path, per_class: int, folder: Path, seed: int = 0,
                  status: Callable[[str], None] = log.info) -> DatasetSplits:
    """A copy of ``splits`` whose ``train`` also holds ``per_class`` generated images of every class."""
    sampler = Sampler.from_bundle(generator)
    if not sampler.conditional:
        raise ConfigError(f"--generator {generator}: an unconditional generator cannot make images of a class; "
                          "train one with 'sightkit generate train DATA --conditional'")
    missing = [name for name in splits.classes if name not in sampler.classes]
    if missing:
        raise ConfigError(f"--generator {generator}: it has no class {missing[0]!r} of DATA (its classes: "
                          f"{', '.join(sampler.classes)})")
    added: list[Sample] = []
    for label, name in enumerate(splits.classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(sampler.sample(per_class, class_name=name, seed=seed + label)):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            added.append(Sample(atomic_write_bytes(folder / name / f"synthetic_{i:04d}.png", buffer.getvalue()),
                                label))
    status(f"synthetic: {per_class} generated images per class added to the {len(splits.train)} training images "
           f"(from {generator}; validation and test stay real)")
    return dataclasses.replace(splits, train=splits.train + added)
