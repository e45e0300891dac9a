"""DiffAugment: shapes, differentiability, what each operation does, that the discriminator sees real and
fake images through the same augmentation in both steps, and that the option round-trips through a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sightkit.errors import ConfigError
from sightkit.tasks.generate import gan_module
from sightkit.tasks.generate.api import Generator
from sightkit.tasks.generate.config import make_config
from sightkit.tasks.generate.diffaugment import color, cutout, diff_augment, parse_policy, translation

ALL = ("color", "translation", "cutout")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("operation", [color, translation, cutout])
def test_each_operation_keeps_the_shape_and_passes_gradients(operation, channels: int) -> None:
    images = torch.rand(5, channels, 32, 32, requires_grad=True)
    out = operation(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == images.dtype
    out.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_translation_moves_a_pixel_by_at_most_an_eighth_and_fills_with_zeros() -> None:
    images = torch.full((64, 1, 32, 32), -1.0)
    images[:, :, 16, 16] = 1.0
    out = translation(images, torch.Generator().manual_seed(0))
    for image in out:
        y, x = divmod(int(image.flatten().argmax()), 32)
        assert abs(y - 16) <= 4 and abs(x - 16) <= 4
    assert (out == 0).any()  # shifted-in border is zero (mid-grey in [-1, 1])
    assert len({int(image.flatten().argmax()) for image in out}) > 10  # each image draws its own shift


def test_cutout_zeros_at_most_a_quarter_per_image() -> None:
    out = cutout(torch.ones(64, 3, 32, 32), torch.Generator().manual_seed(0))
    zeroed = (out == 0).flatten(1).float().mean(1)
    assert zeroed.max() <= 0.25 and zeroed.min() > 0
    assert (out[:, 0] == out[:, 2]).all()  # one square for all channels of an image


def test_the_same_draws_give_the_same_transformation_to_any_input() -> None:
    real, fake = torch.rand(8, 3, 32, 32) * 2 - 1, torch.rand(8, 3, 32, 32) * 2 - 1
    a = diff_augment(real, ALL, torch.Generator().manual_seed(3))
    b = diff_augment(fake, ALL, torch.Generator().manual_seed(3))
    c = diff_augment(torch.cat([real, fake]).split(8)[0], ALL, torch.Generator().manual_seed(3))
    assert not torch.equal(a, b) and torch.equal(a, c)  # depends on the draws, never on where images came from
    assert torch.equal(diff_augment(real, ()), real)


def test_policy_parsing_and_config_validation() -> None:
    assert parse_policy("cutout, Translation") == ("translation", "cutout")
    assert parse_policy("") == parse_policy("none") == ()
    assert make_config(diffaugment="cutout,translation").diffaugment == "translation,cutout"
    assert make_config(diffaugment="").diffaugment == "none"
    with pytest.raises(ConfigError, match="--diffaugment: unknown augmentation flip"):
        make_config(diffaugment="translation,flip")


def test_a_bad_policy_on_the_command_line_is_one_error_line(cli, pattern_data: Path, tmp_path: Path) -> None:
    code, out, err = cli("generate", "train", pattern_data, "--diffaugment", "flip", "--out", tmp_path / "run")
    assert (code, out) == (2, "")
    assert err.strip() == ("error: --diffaugment: unknown augmentation flip; choose from color, translation, cutout "
                           "or none (got 'flip')")
    assert not (tmp_path / "run").exists()


def test_real_and_fake_both_pass_through_the_augmentation_in_both_steps(pattern_data: Path, tmp_path: Path,
                                                                        tiny: dict, monkeypatch) -> None:
    seen: list[tuple[tuple[str, ...], bool]] = []

    def recording(images: torch.Tensor, operations: tuple[str, ...]) -> torch.Tensor:
        seen.append((operations, images.requires_grad))
        return images

    monkeypatch.setattr(gan_module, "diff_augment", recording)
    Generator.train(pattern_data, out=tmp_path / "run", diffaugment="translation,cutout", progress=False,
                    status=lambda m: None, **tiny)
    steps = 4  # 32 images, batches of 8
    assert len(seen) == 3 * steps  # G step: fake; D step: real and fake
    assert {ops for ops, _ in seen} == {("translation", "cutout")}
    assert sum(grad for _, grad in seen) == steps  # only the generator step's fake carries G's graph


def test_the_option_round_trips_through_config_bundle_and_resume(pattern_data: Path, tmp_path: Path,
                                                                 tiny: dict) -> None:
    run = tmp_path / "run"
    first = Generator.train(pattern_data, out=run, diffaugment="cutout", progress=False, status=lambda m: None,
                            **tiny)
    assert first.meta["training"]["config"]["diffaugment"] == "cutout"
    assert json.loads((run / "config.json").read_text())["config"]["diffaugment"] == "cutout"
    resumed = Generator.train(pattern_data, out=run, resume=True, epochs=2, progress=False, status=lambda m: None)
    assert resumed.meta["training"]["config"]["diffaugment"] == "cutout"  # kept, not the default
    assert resumed.meta["training"]["steps_run"] == 8
    again = Generator.train(pattern_data, out=run, resume=True, epochs=3, diffaugment="none", progress=False,
                            status=lambda m: None)
    assert again.meta["training"]["config"]["diffaugment"] == "none"  # an option given with --resume wins
