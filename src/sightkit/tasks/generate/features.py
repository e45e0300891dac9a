"""The feature network of FID / KID / precision-recall: a sightkit classifier of the images' domain.

InceptionV3 (the usual FID network) cannot be downloaded on offline machines, and on small grey
images such as digits it measures ImageNet texture more than the domain. sightkit uses instead
the penultimate layer of a ``classify`` bundle trained on real images of the same domain
(``--features BUNDLE``); when none is given, :func:`train_feature_classifier` trains a small one
(``skcnn_small``) on the evaluation data's training images and keeps it for reuse. The same
classifier labels conditional samples for the class-consistency score. Every report names the
network, so numbers are compared only within one feature space.

Example:
    >>> net = FeatureNet.load("runs/digits-clf/model")  # doctest: +SKIP
    >>> features, logits = net.embed(images)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from sightkit.core.bundle import is_bundle
from sightkit.core.images import ImageSource
from sightkit.errors import ConfigError, DataError
from sightkit.tasks.classify.predict import Predictor

FEATURE_EPOCHS = 15  # a domain classifier for features; digits reach ~98% in this many
FEATURE_MINUTES = 5.0
_BATCH = 128


class FeatureNet:
    """A classifier's penultimate features and logits for images (files or PIL images)."""

    def __init__(self, predictor: Predictor, description: str) -> None:
        self.predictor, self.description = predictor, description
        self.classes = predictor.classes

    @classmethod
    def load(cls, path: str | Path, trained_here: bool = False) -> FeatureNet:
        """Load a ``classify`` bundle as the feature network (``--features``)."""
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"--features {path}: no such bundle; give a sightkit classify bundle (folder or "
                              ".sightkit) trained on images of this domain")
        if not is_bundle(path):
            raise ConfigError(f"--features {path}: not a sightkit classify bundle; InceptionV3 weight files are "
                              "not supported (they need torch-fidelity); train one with 'sightkit classify train'")
        predictor = Predictor.from_bundle(path)
        if not isinstance(predictor.model, nn.Module):
            raise ConfigError(f"--features {path}: needs a torch bundle, not an ONNX model")
        arch = predictor.meta["architecture"]["name"]
        origin = "trained by this evaluation on DATA" if trained_here else "given with --features"
        return cls(predictor, f"sightkit classifier {arch} ({path}, {origin}), penultimate layer")

    @torch.inference_mode()
    def embed(self, images: Sequence[ImageSource],
              progress: Callable[[int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, logits)`` of ``images``; each goes through the classifier's own preprocessing."""
        model = self.predictor.model.eval()
        features, logits = [], []
        for start in range(0, len(images), _BATCH):
            chunk = images[start:start + _BATCH]
            batch = torch.stack([self.predictor.preprocess(image) for image in chunk])
            f, l = _penultimate(model, batch)
            features.append(f.float())
            logits.append(l.float())
            if progress is not None:
                progress(len(chunk))
        return torch.cat(features), torch.cat(logits)


def _penultimate(model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features before the classifier's last linear layer, and the logits, for sightkit's CNNs and timm models."""
    if hasattr(model, "pool") and hasattr(model, "head"):  # sightkit's skcnn family
        pooled = model.pool(model.features(batch))
        return pooled.flatten(1), model.head(pooled)
    if hasattr(model, "forward_head"):  # timm
        pre = model.forward_head(model.forward_features(batch), pre_logits=True)
        return pre, model.get_classifier()(pre)
    raise ConfigError(f"--features: cannot find the penultimate layer of a {type(model).__name__}; "
                      "use a skcnn_* or timm classifier")


def train_feature_classifier(data: str | Path, out_dir: Path, status: Callable[[str], None],
                             progress: bool = False) -> Path:
    """Train ``skcnn_small`` on the training images of ``data`` into ``out_dir``; return its bundle.

    ``digits`` / ``digits-test`` train on the digits' training split (written as PNGs first); a
    folder with ``train/`` trains on ``train/``, as ``sightkit classify train`` does.
    """
    from sightkit.tasks.classify.api import Classifier
    from sightkit.tasks.generate.data import is_builtin

    if is_builtin(data):
        from sightkit.data.samples import export_digits

        source: Path = export_digits(out_dir / "digits")
    else:
        source = Path(data)
    classes = source / "train" if (source / "train").is_dir() else source
    folders = [p for p in classes.iterdir() if p.is_dir()] if classes.is_dir() else []
    if len(folders) < 2:
        raise DataError(f"DATA {data}: no --features classifier was given, and one cannot be trained here "
                        "(that needs at least two class subfolders); give --features BUNDLE")
    status(f"no --features given: training a skcnn_small classifier on {source} for the feature space "
           f"({FEATURE_EPOCHS} epochs at most, {FEATURE_MINUTES:g} min at most)")
    clf = Classifier.train(source, "skcnn_small", out=out_dir / "feature-classifier", epochs=FEATURE_EPOCHS,
                           max_minutes=FEATURE_MINUTES, hflip=False, progress=progress, status=status)
    status(f"feature classifier: {clf.path} (held-out accuracy {clf.report.get('accuracy', 0):.1%}); "
           "reuse it with --features")
    return Path(clf.path)
