"""The anomaly-detection facade that the CLI, the service and users call.

Example:
    >>> from sightkit.tasks.anomaly.api import AnomalyDetector                     # doctest: +SKIP
    >>> det = AnomalyDetector.train("cameras/normal", out="runs/cam.sightkit")      # doctest: +SKIP
    >>> [r.is_anomaly for r in AnomalyDetector.load("runs/cam.sightkit").score(["f1.jpg", "f2.jpg"])]  # doctest: +SKIP
    [False, True]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sightkit.core.bundle import read_extra
from sightkit.core.images import ImageSource
from sightkit.tasks.anomaly.predict import AnomalyScore, AnomalyScorer


class AnomalyDetector:
    """A model of what normal images look like, with a default threshold for "anomalous"."""

    def __init__(self, scorer: AnomalyScorer, path: Path | None = None) -> None:
        self.scorer, self.path = scorer, path

    @property
    def meta(self) -> dict[str, Any]:
        """The bundle metadata (method, preprocessing, threshold, training record)."""
        return self.scorer.meta

    @property
    def threshold(self) -> float:
        """The default threshold, fitted on held-out normal images at the training false-alarm rate."""
        return self.scorer.threshold

    @classmethod
    def train(cls, folder: str | Path, *, out: str | Path, method: str = "patchcore",
              status: Callable[[str], None] | None = None, command: str = "", **options: Any) -> AnomalyDetector:
        """Fit on the normal images under ``folder`` and write the bundle to ``out``.

        ``options`` are :class:`~sightkit.tasks.anomaly.config.TrainConfig` fields (``backbone``,
        ``false_alarm``, ``size``, ``epochs``, ...).

        Example:
            >>> AnomalyDetector.train("normal/", out="cam.sightkit", false_alarm=0.01).threshold  # doctest: +SKIP
            3.87
        """
        from sightkit.tasks.anomaly.config import TrainConfig
        from sightkit.tasks.anomaly.train import train

        config = TrainConfig(method=method, **options)
        path = train(folder, config, out, command=command, **({"status": status} if status else {}))
        return cls.load(path)

    @classmethod
    def load(cls, path: str | Path) -> AnomalyDetector:
        """Load an ``anomaly`` bundle (folder or ``.sightkit`` file); never unpickles.

        Example:
            >>> AnomalyDetector.load("cam.sightkit").meta["method"]  # doctest: +SKIP
            'patchcore'
        """
        return cls(AnomalyScorer.from_bundle(path), Path(path))

    def score(self, images: ImageSource | Sequence[ImageSource], threshold: float | None = None, *,
              skip_errors: bool = False, progress: Callable[[int], None] | None = None) -> list[AnomalyScore]:
        """Score files, folders, globs, PIL images or arrays; ``threshold`` overrides the default.

        Example:
            >>> r = AnomalyDetector.load("cam.sightkit").score("frame.jpg")[0]  # doctest: +SKIP
            >>> r.score, r.is_anomaly, r.overlay().size                           # doctest: +SKIP
            (2.91, False, (224, 250))
        """
        from sightkit.tasks.classify.predict import expand_image_paths

        sources: list[ImageSource] = []
        for image in images if isinstance(images, (list, tuple)) else [images]:
            sources += expand_image_paths([image]) if isinstance(image, (str, Path)) else [image]
        return self.scorer.score(sources, threshold, skip_errors=skip_errors, progress=progress)

    def evaluate(self, normal_dir: str | Path, anomaly_dir: str | Path, out_dir: str | Path, *,
                 threshold: float | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """AUROC and the rates at the threshold on two folders; writes report.json and report.html.

        Example:
            >>> det = AnomalyDetector.load("cam.sightkit")                    # doctest: +SKIP
            >>> det.evaluate("test/ok", "test/bad", "report")["auroc"]        # doctest: +SKIP
            0.91
        """
        from sightkit.tasks.anomaly.evaluate import evaluate

        return evaluate(self.scorer, normal_dir, anomaly_dir, out_dir, threshold=threshold,
                        training_images=self._training_images(), progress=progress)

    def _training_images(self) -> set[str]:
        raw = read_extra(self.path, "dataset.json") if self.path is not None else None
        if raw is None:
            return set()
        record = json.loads(raw)
        return set(record.get("fit", [])) | set(record.get("held_out", []))
