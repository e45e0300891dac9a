"""The detection facade that the CLI, the service and users call.

Example:
    >>> result = Detector.train("shapes/", epochs=20)  # doctest: +SKIP
    >>> detector = Detector.load(result.bundle)  # doctest: +SKIP
    >>> detector.predict("photo.jpg", score=0.5)[0]  # doctest: +SKIP
    Box(label='circle', score=0.97, x1=12.0, y1=30.5, x2=52.0, y2=70.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from sightkit.core.images import ImageSource, load_image
from sightkit.errors import BundleError, ConfigError
from sightkit.tasks.detect.config import make_detect_config
from sightkit.tasks.detect.dataset import DetectionData
from sightkit.tasks.detect.predict import Box, DetectPredictor
from sightkit.tasks.detect.train import DetectTrainResult


class Detector:
    """A trained object detector: class names, thresholds and preprocessing travel with its weights."""

    def __init__(self, predictor: DetectPredictor, path: Path | None = None) -> None:
        self.predictor, self.path = predictor, path

    @property
    def classes(self) -> list[str]:
        """The class names, in the model's order."""
        return self.predictor.classes

    @property
    def meta(self) -> dict[str, Any]:
        """The bundle metadata (architecture, classes, thresholds, metrics, training command)."""
        return self.predictor.meta

    @classmethod
    def train(cls, data: str | Path, *, out: str | Path | None = None, weights: str | Path | None = None,
              resume: bool = False, progress: bool = True, status: Callable[[str], None] | None = None,
              command: str | None = None, **options: Any) -> DetectTrainResult:
        """Train on a VOC / COCO / YOLO dataset; options are :class:`~sightkit.tasks.detect.config.DetectConfig`'s.

        ``weights``: a local weight file to start from (see :func:`~sightkit.tasks.detect.model.load_weights`);
        ``resume=True`` continues the run in ``out`` (options given here override the saved ones).

        Example:
            >>> result = Detector.train("street_voc/", model="fcos_resnet18", image_size=640)  # doctest: +SKIP
            >>> result.meta["metrics"]["best_val_map_50"]  # doctest: +SKIP
            0.41
        """
        from sightkit.tasks.detect.train import load_run_config, train

        run_dir = Path(out) if out is not None else None
        if resume:
            if run_dir is None:
                raise ConfigError("--resume needs --out RUN_DIR (the folder of the run to continue)")
            config, saved_weights = load_run_config(run_dir, options)
            weights = weights or saved_weights
        else:
            config = make_detect_config(**options)
        kwargs = {"status": status} if status is not None else {}
        return train(Path(data), config, run_dir, weights=weights, resume=resume, progress=progress,
                     command=command, **kwargs)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Detector:
        """Load a ``detect`` bundle (a folder or a ``.sightkit`` file), or its ONNX export (``.onnx``).

        An ``.onnx`` file written by ``sightkit export BUNDLE`` runs on ONNX Runtime with the
        same boxes; its NMS IoU and lowest score are built in (see ``docs/detect.md``).

        Example:
            >>> Detector.load("runs/detect-shapes/model").classes  # doctest: +SKIP
            ['circle', 'square', 'triangle']
            >>> Detector.load("shapes.onnx").predict("shapes.png", score=0.5)  # doctest: +SKIP
        """
        if Path(path).suffix.lower() == ".onnx":
            from sightkit.deploy.detect_onnx import load_onnx_detector

            return cls(load_onnx_detector(path, device), Path(path))
        return cls(DetectPredictor.from_bundle(path, device), Path(path))

    @property
    def is_onnx(self) -> bool:
        """Whether this detector runs an ONNX file on ONNX Runtime (it cannot be saved as a bundle)."""
        return not isinstance(self.predictor.model, torch.nn.Module)

    def predict(self, image: ImageSource, score: float | None = None, nms: float | None = None) -> list[Box]:
        """Boxes in ``image`` (a path, bytes, PIL image or array), highest score first.

        ``score``/``nms`` default to the bundle's thresholds (0.3 / 0.5 unless changed).

        Example:
            >>> [b.label for b in Detector.load("model").predict("shapes.png", score=0.5)]  # doctest: +SKIP
            ['circle', 'square']
        """
        return self.predictor.predict(load_image(image, "RGB"), score, nms)

    def predict_many(self, images: Sequence[ImageSource], score: float | None = None,
                     nms: float | None = None) -> list[list[Box]]:
        """Boxes per image for several images, run as one batch."""
        return self.predictor.predict_batch([load_image(image, "RGB") for image in images], score, nms)

    def evaluate(self, data: str | Path, out_dir: str | Path | None = None, *, strict: bool = False,
                 progress: Callable[[int], None] | None = None, allow_train_images: bool = False) -> dict[str, Any]:
        """COCO mAP@[.5:.95], mAP@.5, per-class AP on a dataset; ``report.html`` in ``out_dir``.

        The model's training images are kept out (:func:`~sightkit.tasks.detect.eval_data.held_out_data`):
        its own training data scores only the held-out images, and other data holding training
        images is refused (:class:`DataError`) unless ``allow_train_images``.

        Example:
            >>> Detector.load("model").evaluate("shapes_test/", "runs/eval")["map_50"]  # doctest: +SKIP
            0.93
        """
        from sightkit.tasks.detect.dataset import load_detection_data
        from sightkit.tasks.detect.evaluate import evaluate

        dataset = load_detection_data(data, classes=self.classes, strict=strict)
        dataset, notes = self.held_out(dataset, allow_train_images)
        return evaluate(self.predictor, dataset, out_dir, progress=progress, notes=notes)

    def held_out(self, dataset: DetectionData, allow_train_images: bool = False) -> tuple[DetectionData, list[str]]:
        """The images of ``dataset`` this model may be scored on, and notes on them (see :meth:`evaluate`)."""
        from sightkit.tasks.detect.eval_data import held_out_data

        return held_out_data(None if self.is_onnx else self.path, self.meta, dataset, allow_train_images)

    def save(self, path: str | Path) -> Path:
        """Write the bundle (a folder, or a zip when ``path`` ends in ``.sightkit``), metadata unchanged."""
        from sightkit.core.bundle import save_bundle

        if self.is_onnx:
            raise BundleError(f"{self.path}: an ONNX file cannot be saved as a bundle; save the bundle it came from")
        return save_bundle(path, self.predictor.model.state_dict(), self.meta)
