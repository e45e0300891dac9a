"""Seeded sampling: class labels, batch independence, bundle round trip, files and grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from sightkit.errors import ConfigError
from sightkit.tasks.generate.api import Generator
from sightkit.tasks.generate.predict import BATCH


def _pixels(images: list[Image.Image]) -> list[bytes]:
    return [image.tobytes() for image in images]


def test_conditional_sampling_feeds_the_requested_class(bundle_factory) -> None:
    gen = Generator.load(bundle_factory(classes=("bright", "dark")))
    labels = gen.sampler.labels_for(5, "dark")
    assert labels.tolist() == [1] * 5
    assert gen.sampler.labels_for(4, None).tolist() == [0, 1, 0, 1]  # every class in turn
    z = torch.randn(3, gen.sampler.model.z_dim, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        expected = gen.sampler.model(z, torch.ones(3, dtype=torch.long))
    images, _ = gen.sampler.sample_tensor(3, "dark", seed=7)
    assert torch.equal(images, expected)
    assert _pixels(gen.sample(3, "dark", seed=7)) != _pixels(gen.sample(3, "bright", seed=7))


def test_samples_are_pil_images_of_the_model_mode(bundle_factory) -> None:
    images = Generator.load(bundle_factory(channels=3)).sample(2, "bright")
    assert [(im.mode, im.size) for im in images] == [("RGB", (32, 32))] * 2


def test_a_seed_gives_the_same_images_whatever_the_batch_size(bundle_factory, monkeypatch) -> None:
    gen = Generator.load(bundle_factory())
    whole = _pixels(gen.sample(6, seed=3))
    monkeypatch.setattr("sightkit.tasks.generate.predict.BATCH", 4)
    assert _pixels(gen.sample(6, seed=3)) == whole
    assert _pixels(gen.sample(6, seed=4)) != whole
    assert BATCH > 4


@pytest.mark.parametrize("name", ["copy", "copy.sightkit"])
def test_bundle_round_trip_gives_identical_samples(bundle_factory, tmp_path: Path, name: str) -> None:
    gen = Generator.load(bundle_factory())
    copy = Generator.load(gen.save(tmp_path / name))
    assert copy.classes == gen.classes
    assert _pixels(copy.sample(5, "bright", seed=11)) == _pixels(gen.sample(5, "bright", seed=11))


def test_sample_files_writes_pngs_and_a_grid(bundle_factory, tmp_path: Path) -> None:
    paths = Generator.load(bundle_factory()).sample_files(4, tmp_path / "out", seed=1)
    assert [p.name for p in paths] == ["bright_0000.png", "dark_0001.png", "bright_0002.png", "dark_0003.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*(p.name for p in paths), "grid.png"])
    assert Image.open(paths[0]).size == (32, 32)


@pytest.mark.parametrize(("classes", "n", "class_name", "message"), [
    (("bright", "dark"), 0, None, "-n 0"),
    (("bright", "dark"), 3, "brigth", "did you mean 'bright'"),
    ((), 3, "bright", "unconditional"),
])
def test_bad_requests_write_nothing(bundle_factory, tmp_path: Path, classes, n, class_name, message) -> None:
    gen = Generator.load(bundle_factory(classes=classes))
    with pytest.raises(ConfigError, match=message):
        gen.sample_files(n, tmp_path / "out", class_name=class_name)
    assert not (tmp_path / "out").exists()
