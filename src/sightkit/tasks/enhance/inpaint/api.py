"""The inpainting facade that the CLI, the service and users call.

Example:
    >>> import numpy as np
    >>> from PIL import Image
    >>> inpainter = Inpainter.load("general")  # doctest: +SKIP
    >>> mask = np.zeros((48, 64), bool); mask[10:20, 20:40] = True
    >>> inpainter.inpaint(Image.new("RGB", (64, 48), "gray"), mask).size  # doctest: +SKIP
    (64, 48)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sightkit.core.images import ImageSource, load_image
from sightkit.errors import ConfigError
from sightkit.tasks.enhance.inpaint.config import make_inpaint_config
from sightkit.tasks.enhance.inpaint.predict import InpaintPredictor
from sightkit.tasks.enhance.inpaint.train import InpaintTrainResult


class Inpainter:
    """A trained inpainting model: fills the masked pixels of images of any size."""

    def __init__(self, predictor: InpaintPredictor, path: Path | None = None) -> None:
        self.predictor, self.path = predictor, path

    @property
    def meta(self) -> dict[str, Any]:
        """The bundle metadata (architecture, kind, training command, metrics)."""
        return self.predictor.meta

    @classmethod
    def train(cls, data: str | Path, *, out: str | Path | None = None, init: str | Path | None = None,
              resume: bool = False, progress: bool = True, status: Callable[[str], None] | None = None,
              command: str | None = None, **options: Any) -> InpaintTrainResult:
        """Train on a folder of images; see :class:`~sightkit.tasks.enhance.inpaint.config.InpaintConfig`.

        Returns the result with one bundle per stage (``l1``, ``gan``); ``resume=True`` continues
        the run in ``out`` (options given here override the saved ones).

        Example:
            >>> result = Inpainter.train("photos", epochs=10, out="runs/inpaint")  # doctest: +SKIP
            >>> Inpainter.load(result.bundles["l1"]).inpaint("photo.jpg", "mask.png")  # doctest: +SKIP
        """
        from sightkit.tasks.enhance.inpaint.train import load_run_config, train

        run_dir = Path(out) if out is not None else None
        if resume:
            if run_dir is None:
                raise ConfigError("--resume needs --out RUN_DIR (the folder of the run to continue)")
            config, saved_init = load_run_config(run_dir, options)
            init = init or saved_init
        else:
            config = make_inpaint_config(**options)
        kwargs = {"status": status} if status is not None else {}
        return train(Path(data), config, run_dir, init=init, resume=resume, progress=progress, command=command,
                     **kwargs)

    @classmethod
    def load(cls, name_or_path: str | Path = "general", device: str = "cpu") -> Inpainter:
        """Load a shipped model (``general``, ``face``) or an inpaint bundle."""
        from sightkit.tasks.enhance.inpaint.shipped import resolve_inpaint_model

        path = resolve_inpaint_model(name_or_path)
        return cls(InpaintPredictor.from_bundle(path, device), path)

    def inpaint(self, image: ImageSource, mask: ImageSource, note: Callable[[str], None] | None = None) -> Image.Image:
        """``image`` with the ``mask``'s white (>= 50%) pixels filled; every other pixel unchanged.

        ``mask``: an image (file, PIL, array) of the image's size, or a bool/0-1/0-255 array.
        """
        picture = image if isinstance(image, Image.Image) else load_image(image)
        if not isinstance(mask, (Image.Image, np.ndarray)):
            mask = load_image(mask)
        return self.predictor.inpaint(picture, mask, note)

    def evaluate(self, data: str | Path | Sequence[str | Path], out_dir: str | Path | None = None,
                 max_side: int = 256, seed: int = 0, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """In-hole PSNR / SSIM / L1 at 10-20%, 20-30%, 30-40% masks beside OpenCV's Telea and Navier-Stokes."""
        from sightkit.tasks.enhance.inpaint.evaluate import evaluate

        return evaluate(self.predictor, data, out_dir, max_side=max_side, seed=seed, progress=progress)

    def save(self, path: str | Path) -> Path:
        """Write the bundle (a folder, or a zip when ``path`` ends in ``.sightkit``), metadata unchanged."""
        from sightkit.core.bundle import save_bundle

        return save_bundle(path, self.predictor.model.state_dict(), self.meta)


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """A bool mask of an image of ``size`` (w, h) with the ``(x, y, w, h)`` box set.

    Example:
        >>> int(box_mask((10, 8), (2, 1, 3, 4)).sum())
        12
    """
    x, y, w, h = box
    width, height = size
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x >= width or y >= height:
        raise ConfigError(f"--box {x},{y},{w},{h}: must be x,y,width,height inside the {width}x{height} image")
    mask = np.zeros((height, width), bool)
    mask[y:min(height, y + h), x:min(width, x + w)] = True
    return mask
