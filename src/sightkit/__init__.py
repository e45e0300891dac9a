"""sightkit: an image-recognition toolkit.

Heavy libraries (torch, Lightning, timm) are imported lazily, so ``import sightkit``
and ``sightkit --help`` stay fast.

Example:
    >>> from sightkit import Classifier          # doctest: +SKIP
    >>> clf = Classifier.train("data/", model="skcnn_small", epochs=10)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from sightkit.core.threads import set_threads  # noqa: E402  (no heavy imports)

if TYPE_CHECKING:
    from sightkit.tasks.anomaly.api import AnomalyDetector
    from sightkit.tasks.classify.api import Classifier
    from sightkit.tasks.detect.api import Detector
    from sightkit.tasks.enhance.api import Upscaler
    from sightkit.tasks.enhance.inpaint.api import Inpainter
    from sightkit.tasks.face.api import FaceGallery
    from sightkit.tasks.generate.api import Generator
    from sightkit.tasks.search.api import SearchIndex

__all__ = ["AnomalyDetector", "Classifier", "Detector", "FaceGallery", "Generator", "Inpainter", "SearchIndex",
           "Upscaler", "__version__", "set_threads"]


_LAZY = {"AnomalyDetector": "sightkit.tasks.anomaly.api",
         "Classifier": "sightkit.tasks.classify.api", "Detector": "sightkit.tasks.detect.api",
         "FaceGallery": "sightkit.tasks.face.api",
         "Generator": "sightkit.tasks.generate.api", "Inpainter": "sightkit.tasks.enhance.inpaint.api",
         "SearchIndex": "sightkit.tasks.search.api", "Upscaler": "sightkit.tasks.enhance.api"}


def __getattr__(name: str) -> Any:
    """The task facades, imported on first use (with the thread-pool settings of :mod:`sightkit.core.threads`)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'sightkit' has no attribute {name!r}")
    import importlib

    from sightkit.core.threads import prepare_process

    prepare_process()  # before torch loads, when sightkit is the first to load it
    return getattr(importlib.import_module(_LAZY[name]), name)
