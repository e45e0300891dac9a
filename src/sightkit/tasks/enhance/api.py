"""The super-resolution facade that the CLI, the service and users call.

Example:
    >>> from sightkit.tasks.enhance.api import Upscaler
    >>> from PIL import Image
    >>> big = Upscaler.load("default-x4").upscale(Image.new("RGB", (32, 24)))
    >>> big.size
    (128, 96)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from sightkit.core.images import ImageSource
from sightkit.errors import ConfigError
from sightkit.tasks.enhance.config import make_config
from sightkit.tasks.enhance.files import UpscaleResult
from sightkit.tasks.enhance.predict import Predictor
from sightkit.tasks.enhance.train import TrainResult


class Upscaler:
    """A trained super-resolution model with its colour handling and tiled inference."""

    def __init__(self, predictor: Predictor, path: Path | None = None) -> None:
        self.predictor, self.path = predictor, path

    @property
    def scale(self) -> int:
        """The upscaling factor of the model."""
        return self.predictor.scale

    @property
    def meta(self) -> dict[str, Any]:
        """The bundle metadata (architecture, kind, training command, metrics)."""
        return self.predictor.meta

    @classmethod
    def train(cls, data: str | Path, *, out: str | Path | None = None, init: str | Path | None = None,
              resume: bool = False, progress: bool = True, status: Callable[[str], None] | None = None,
              command: str | None = None, **options: Any) -> TrainResult:
        """Train on a folder of HR images; see :class:`~sightkit.tasks.enhance.config.TrainConfig`.

        Returns the :class:`TrainResult` with one bundle per stage (``psnr``, ``gan``).
        ``resume=True`` continues the run in ``out`` (options given here override the saved ones).

        Example:
            >>> result = Upscaler.train("data/T91", scale=2, epochs=10, out="runs/x2")  # doctest: +SKIP
            >>> Upscaler.load(result.bundles["psnr"]).upscale("small.png")  # doctest: +SKIP
        """
        from sightkit.tasks.enhance.train import load_run_config, train

        run_dir = Path(out) if out is not None else None
        if resume:
            if run_dir is None:
                raise ConfigError("--resume needs --out RUN_DIR (the folder of the run to continue)")
            config, saved_init = load_run_config(run_dir, options)
            init = init or saved_init
        else:
            config = make_config(**options)
        kwargs = {"status": status} if status is not None else {}
        return train(Path(data), config, run_dir, init=init, resume=resume, progress=progress, command=command,
                     **kwargs)

    @classmethod
    def load(cls, name_or_path: str | Path = "default-x4", device: str = "cpu") -> Upscaler:
        """Load a shipped model (``default-x2``, ``default-x4``, ``gan-x2``, ``gan-x4``) or an enhance bundle."""
        from sightkit.tasks.enhance.shipped import resolve_model

        path = resolve_model(name_or_path)
        return cls(Predictor.from_bundle(path, device), path)

    def upscale(self, image: ImageSource, tile: int | None = None) -> Image.Image:
        """Upscale one image; alpha is kept, grayscale stays grayscale, large images are tiled."""
        return self.predictor.upscale_image(image, tile=tile)

    def upscale_files(self, sources: Sequence[str | Path], out_dir: str | Path, tile: int | None = None,
                      progress: Callable[[int], None] | None = None) -> list[UpscaleResult]:
        """Upscale files (or folders, globs) into ``out_dir``, keeping names, formats and EXIF."""
        from sightkit.tasks.enhance.files import upscale_files

        return upscale_files(self.predictor, sources, out_dir, tile=tile, progress=progress)

    def evaluate(self, data: str | Path | Sequence[str | Path], out_dir: str | Path | None = None,
                 progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Y-PSNR/SSIM (``scale`` px border crop) beside bicubic, sharpness, and a report with crops."""
        from sightkit.tasks.enhance.evaluate import evaluate

        return evaluate(self.predictor, data, out_dir, progress)

    def save(self, path: str | Path) -> Path:
        """Write the bundle (a folder, or a zip when ``path`` ends in ``.sightkit``), metadata unchanged."""
        from sightkit.core.bundle import save_bundle

        return save_bundle(path, self.predictor.model.state_dict(), self.meta)
