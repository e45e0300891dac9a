"""The synthesis facade that the CLI, the service and users call.

Example:
    >>> from sightkit.tasks.generate.api import Generator
    >>> gen = Generator.train("digits", epochs=40, out="runs/digits-gan")  # doctest: +SKIP
    >>> sevens = Generator.load("runs/digits-gan/model").sample(16, class_name="7", seed=0)  # doctest: +SKIP
    >>> sevens[0].size  # doctest: +SKIP
    (32, 32)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from sightkit.errors import ConfigError
from sightkit.tasks.generate.config import make_config
from sightkit.tasks.generate.predict import Sampler


class Generator:
    """A trained image generator (DCGAN or class-conditional): its EMA weights, classes and output mode."""

    def __init__(self, sampler: Sampler, path: Path | None = None, collapse_warnings: list[str] | None = None) -> None:
        self.sampler, self.path = sampler, path
        self.collapse_warnings = collapse_warnings or []

    @property
    def classes(self) -> list[str]:
        """Class names a sample can be asked for (empty for an unconditional model)."""
        return self.sampler.classes

    @property
    def conditional(self) -> bool:
        """Whether samples can be asked for by class."""
        return self.sampler.conditional

    @property
    def meta(self) -> dict[str, Any]:
        """The bundle metadata (architecture, classes, data, training command and diversity)."""
        return self.sampler.meta

    @classmethod
    def train(cls, data: str | Path, *, out: str | Path | None = None, resume: bool = False, progress: bool = True,
              status: Callable[[str], None] | None = None, command: str | None = None, **options: Any) -> Generator:
        """Train on ``data`` (class subfolders, a folder of images, or ``digits``); see :class:`TrainConfig`.

        ``resume=True`` continues the killed or finished run in ``out`` (options given here, such
        as a larger ``epochs``, override the saved ones). Collapse warnings are in ``.collapse_warnings``.

        Example:
            >>> gen = Generator.train("digits", conditional=True, epochs=40, out="runs/g")  # doctest: +SKIP
        """
        from sightkit.tasks.generate.train import load_run_config, train

        run_dir = Path(out) if out is not None else None
        if resume:
            if run_dir is None:
                raise ConfigError("--resume needs --out RUN_DIR (the folder of the run to continue)")
            config = load_run_config(run_dir, options)
        else:
            config = make_config(**options)
        kwargs = {"status": status} if status is not None else {}
        result = train(data, config, run_dir, resume=resume, progress=progress, command=command, **kwargs)
        return cls(Sampler.from_bundle(result.bundle), result.bundle, result.collapse_warnings)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Generator:
        """Load a ``generate`` bundle (folder or ``.sightkit`` file); never unpickles."""
        return cls(Sampler.from_bundle(path, device), Path(path))

    def sample(self, n: int, class_name: str | None = None, seed: int = 0,
               progress: Callable[[int], None] | None = None) -> list[Image.Image]:
        """``n`` images (PIL, the training data's mode); all of ``class_name``, else every class in turn.

        The same seed gives the same images, whatever the batch size or device.

        Example:
            >>> Generator.load("runs/g/model").sample(4, class_name="3", seed=1)  # doctest: +SKIP
        """
        return self.sampler.sample(n, class_name, seed, progress)

    def sample_files(self, n: int, out_dir: str | Path, class_name: str | None = None, seed: int = 0,
                     progress: Callable[[int], None] | None = None) -> list[Path]:
        """Write ``n`` PNGs and ``grid.png`` into ``out_dir`` (atomically; nothing when an option is wrong)."""
        return self.sampler.write_samples(n, out_dir, class_name, seed, progress)

    def evaluate(self, data: str | Path, out_dir: str | Path | None = None, *, features: str | Path | None = None,
                 n: int | None = None, per_class: int = 100, seed: int = 0, **kwargs: Any) -> dict[str, Any]:
        """FID, KID, precision / recall beside a real-vs-real baseline, class-consistency; writes a report.

        ``features`` is a classify bundle of the same domain (else a small one is trained on
        ``data``); ``kwargs`` go to :func:`sightkit.tasks.generate.evaluate.evaluate` (``progress``, ``status``).

        Example:
            >>> report = Generator.load("runs/g/model").evaluate("digits-test")  # doctest: +SKIP
            >>> report["fid"], report["real_fid"], report["class_consistency"]  # doctest: +SKIP
        """
        from sightkit.tasks.generate.evaluate import evaluate

        if out_dir is None:
            base = self.path.parent if self.path is not None else Path("runs")
            out_dir = base / f"report-{Path(str(data)).stem}"
        return evaluate(self.sampler, data, out_dir, features=features, n=n, per_class=per_class, seed=seed, **kwargs)

    def save(self, path: str | Path) -> Path:
        """Write the bundle (a folder, or a zip when ``path`` ends in ``.sightkit``), metadata unchanged."""
        from sightkit.core.bundle import save_bundle

        return save_bundle(path, self.sampler.model.state_dict(), self.meta)
