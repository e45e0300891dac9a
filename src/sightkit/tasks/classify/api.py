"""The classification facade that the CLI, the service and users call.

Example:
    >>> from sightkit import Classifier  # doctest: +SKIP
    >>> clf = Classifier.train("data/flowers", model="resnet18", epochs=10)  # doctest: +SKIP
    >>> clf.evaluate("data/flowers")["accuracy"]  # its recorded test split  # doctest: +SKIP
    >>> Classifier.load("runs/.../model").predict(["rose.jpg"])[0].label  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sightkit.core.images import ImageSource
from sightkit.errors import BundleError, ConfigError
from sightkit.tasks.classify.config import make_config
from sightkit.tasks.classify.eval_data import EvalData, choose_eval_data
from sightkit.tasks.classify.predict import Prediction, Predictor, expand_image_paths

if TYPE_CHECKING:
    from sightkit.explain.api import Explanation


class Classifier:
    """A trained image classifier: its model, classes, preprocessing and calibration."""

    def __init__(self, predictor: Predictor, path: Path | None = None, report: dict[str, Any] | None = None) -> None:
        self.predictor, self.path, self.report = predictor, path, report

    @property
    def classes(self) -> list[str]:
        """Class names, in the order of the model's outputs."""
        return self.predictor.classes

    @property
    def meta(self) -> dict[str, Any]:
        """The bundle metadata (architecture, preprocessing, calibration, metrics, training)."""
        return self.predictor.meta

    @classmethod
    def train(cls, data: str | Path, model: str | None = None, *, out: str | Path | None = None,
              resume: bool = False, progress: bool = True, status: Callable[[str], None] | None = None,
              **options: Any) -> Classifier:
        """Train on ``data`` (folder per class, split folders, or CSV manifest); see :class:`TrainConfig`.

        ``resume=True`` continues the killed or finished run in ``out`` (options given here,
        such as a larger ``epochs``, override the saved ones). ``unlabeled="folder"`` adds
        FixMatch semi-supervised training on those images (``unlabeled_ratio``, ``unlabeled_conf``,
        ``lambda_u``; see docs/data.md).

        Example:
            >>> clf = Classifier.train("data/few", unlabeled="data/unsorted", label_smoothing=0)  # doctest: +SKIP
            >>> clf.meta["training"]["unlabeled"]["images"]                                       # doctest: +SKIP
            1034
        """
        from sightkit.tasks.classify.train import load_run_config, train

        run_dir = Path(out) if out is not None else None
        if model is None and options.get("init") and not resume:
            from sightkit.tasks.classify.transfer import init_model_name

            model = init_model_name(options["init"])  # --init's architecture unless --model is given
        overrides = {**options, **({"model": model} if model else {})}
        if resume:
            if run_dir is None:
                raise ConfigError("--resume needs --out RUN_DIR (the folder of the run to continue)")
            config = load_run_config(run_dir, overrides)
        else:
            config = make_config(**overrides)
        kwargs = {"status": status} if status is not None else {}
        source = data if "://" in str(data) else Path(data)  # a URL of shards stays a string
        result = train(source, config, run_dir, resume=resume, progress=progress, **kwargs)
        return cls(Predictor.from_bundle(result.bundle_path), result.bundle_path, result.report)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", backend: str | None = None) -> Classifier:
        """Load a ``classify`` bundle (folder or ``.sightkit`` file); never unpickles.

        ``backend="onnx"`` (the default for ``.onnx`` files from ``sightkit export`` or
        ``quantize``) predicts with ONNX Runtime, with the same pre- and post-processing.
        """
        return cls(Predictor.from_bundle(path, device, backend), Path(path))

    def predict(self, images: ImageSource | Sequence[ImageSource], top_k: int = 5, min_confidence: float = 0.0,
                batch_size: int = 64, skip_errors: bool = False, tta: bool = False) -> list[Prediction]:
        """Top-k calibrated predictions for files, folders, globs, PIL images or arrays.

        ``tta`` scores the mean of flipped and shifted views (:mod:`sightkit.tasks.classify.tta`).
        """
        return self.predictor.predict(self._sources(images), top_k, min_confidence, batch_size, skip_errors, tta)

    def embed(self, images: ImageSource | Sequence[ImageSource], batch_size: int = 64) -> np.ndarray:
        """Penultimate-layer features, L2-normalised: a float32 array ``(N, D)``, one row per image.

        Files, folders and globs are expanded as in :meth:`predict` (rows follow that order); an
        unreadable image raises :class:`~sightkit.errors.ImageError`. Cosine similarity of two
        images is the dot product of their rows.

        Example:
            >>> emb = Classifier.load("runs/x/model").embed(["a.png", "b.png"])  # doctest: +SKIP
            >>> emb.shape, float(emb[0] @ emb[1])                                  # doctest: +SKIP
            ((2, 128), 0.93)
        """
        return self.predictor.embed(self._sources(images), batch_size)[0]

    def predict_proba(self, images: ImageSource | Sequence[ImageSource], batch_size: int = 64,
                      tta: bool = False) -> np.ndarray:
        """Calibrated probabilities of every class: ``(N, len(classes))``, rows in the order of :meth:`predict`.

        Example:
            >>> Classifier.load("runs/x/model").predict_proba(["a.png"]).sum(axis=1)  # doctest: +SKIP
            array([1.], dtype=float32)
        """
        return self.predictor.probabilities(self._sources(images), batch_size, tta)

    @staticmethod
    def _sources(images: ImageSource | Sequence[ImageSource]) -> list[ImageSource]:
        sources: list[ImageSource] = []
        for image in images if isinstance(images, (list, tuple)) else [images]:
            sources += expand_image_paths([image]) if isinstance(image, (str, Path)) else [image]
        return sources

    def explain(self, images: ImageSource | Sequence[ImageSource], method: str = "gradcam", *, target: str = "top",
                layer: str | None = None, out_dir: str | Path | None = None,
                **options: Any) -> Explanation | list[Explanation]:
        """Heatmaps of why the model chose ``target`` ("top" or a class name): ``.map``, ``.overlay``.

        One image gives one :class:`~sightkit.explain.api.Explanation`; a list, a folder or a
        glob gives a list. ``options`` go to :func:`sightkit.explain.api.explain_images`
        (``baseline``, ``faithfulness``, ``batch_size``).

        Example:
            >>> e = Classifier.load("runs/x/model").explain("cat.jpg", method="gradcam")  # doctest: +SKIP
            >>> e.map.shape, e.label, e.score                                            # doctest: +SKIP
            ((32, 32), 'cat', 0.93)
        """
        from sightkit.explain.api import explain_images

        many = isinstance(images, (list, tuple)) or (isinstance(images, (str, Path)) and not Path(images).is_file())
        results = explain_images(self.predictor, self._sources(images), method, target=target, layer=layer,
                                 out_dir=out_dir, **options)
        return results if many else results[0]

    def evaluate(self, data: str | Path | Sequence[tuple[Path, str]] | EvalData, out_dir: str | Path | None = None,
                 batch_size: int = 64, progress: Callable[[int], None] | None = None, *, split: str | None = None,
                 allow_train_images: bool = False, task: str | None = None,
                 positive_class: str | None = None, tta: bool = False) -> dict[str, Any]:
        """Accuracy, top-5, per-class P/R/F1, macro-F1, balanced accuracy, confusion matrix, ECE.

        Training images are never scored unnoticed: ``data`` that is the dataset the model was
        trained on gives its recorded test split (val when there was none; ``split`` picks
        train, val, test or all), and other data holding training images raises
        :class:`~sightkit.errors.DataError` unless ``allow_train_images``. The report says which
        images it scored (``split``, ``n``, ``scored``) and lists ``notes``. With two classes or
        ``task="medical"`` it adds ``medical``: sensitivity, specificity, PPV, NPV and AUROC with
        bootstrap 95% intervals for ``positive_class`` (:mod:`sightkit.tasks.classify.medical`).
        ``tta`` scores the mean of flipped and shifted views and adds the plain figures as ``without_tta``.

        Example:
            >>> clf.evaluate("data/flowers")["scored"]  # doctest: +SKIP
            'recorded test split of /data/flowers: 120 images'
        """
        from sightkit.tasks.classify.evaluate import evaluate

        if not isinstance(data, EvalData):
            data = choose_eval_data(self.bundle_ref, data, split, allow_train_images)
        return evaluate(self.predictor, data, out_dir, batch_size, progress, task=task, positive_class=positive_class,
                        tta=tta)

    @property
    def bundle_ref(self) -> Path | dict[str, Any]:
        """The bundle file or folder this classifier came from, else its metadata (for recorded splits)."""
        if self.path is not None and self.path.suffix != ".onnx" and self.path.exists():
            return self.path
        return self.meta

    def save(self, path: str | Path) -> Path:
        """Write the bundle (a folder, or a zip when ``path`` ends in ``.sightkit``), with its record of the training data."""
        from torch import nn

        from sightkit.core.bundle import bundle_extras, save_bundle

        if not isinstance(self.predictor.model, nn.Module):
            raise BundleError(f"{self.path}: an ONNX model cannot be saved as a bundle; keep the .onnx file")
        extras = bundle_extras(self.path) if self.path is not None and self.path.exists() else {}
        return save_bundle(path, self.predictor.model.state_dict(), self.meta, extras=extras)
