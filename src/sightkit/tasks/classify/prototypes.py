"""Class prototypes on a classifier's embeddings: the few-shot classifier and the imprinted head of ``--init``.

A prototype is the L2-normalised mean of a class's L2-normalised penultimate-layer embeddings. A
linear head whose rows are the prototypes times ``COSINE_SCALE / m`` (``m``: the median embedding
norm), bias 0, picks for any image exactly the prototype of highest cosine, since
``w_c . f = |f| (s / m) cos(f, p_c)`` (weight imprinting, Qi, Brown and Lowe 2018).

Example:
    >>> features, labels = embed_samples(model, dataset)  # doctest: +SKIP
    >>> set_prototype_head(model, features, labels, num_classes=5)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from sightkit.errors import ModelError
from sightkit.tasks.classify.model import penultimate_features
from sightkit.tasks.classify.transfer import classifier_layer

COSINE_SCALE = 10.0  # logits = cosine / 0.1: the usual temperature of cosine classifiers (before calibration)


def class_prototypes(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per class, the L2-normalised mean of its L2-normalised embeddings: ``(num_classes, D)``.

    Example:
        >>> class_prototypes(torch.eye(3), torch.tensor([0, 1, 1]), 2)
        tensor([[1.0000, 0.0000, 0.0000],
                [0.0000, 0.7071, 0.7071]])
    """
    unit = F.normalize(embeddings, dim=1)
    sums = torch.zeros(num_classes, unit.shape[1], dtype=unit.dtype).index_add_(0, labels, unit)
    return F.normalize(sums, dim=1)


def leave_one_out_cosines(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Cosine of each embedding to every prototype, its own class's prototype built without it.

    Rows of images alone in their class cannot be scored this way and are NaN.

    Example:
        >>> leave_one_out_cosines(torch.eye(2).repeat(2, 1), torch.tensor([0, 1, 0, 1]), 2)[0]
        tensor([1., 0.])
    """
    unit = F.normalize(embeddings, dim=1)
    sums = torch.zeros(num_classes, unit.shape[1], dtype=unit.dtype).index_add_(0, labels, unit)
    cosines = unit @ F.normalize(sums, dim=1).T
    own = F.normalize(sums[labels] - unit, dim=1)  # the own-class prototype without the image
    cosines[torch.arange(len(labels)), labels] = (unit * own).sum(1)
    alone = torch.bincount(labels, minlength=num_classes)[labels] < 2
    cosines[alone] = float("nan")
    return cosines


@torch.no_grad()
def embed_samples(model: torch.nn.Module, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate-layer features (not normalised) and labels of every ``(image, label)`` of ``dataset``."""
    rows, labels = [], []
    for images, targets in DataLoader(dataset, batch_size=128):
        rows.append(penultimate_features(model, images).float())
        labels.append(targets)
    return torch.cat(rows), torch.cat(labels)


def set_prototype_head(model: torch.nn.Module, features: torch.Tensor, labels: torch.Tensor,
                       num_classes: int) -> float:
    """Make the classification layer the prototype classifier of ``features``; returns the median norm used.

    Raises :class:`ModelError` when that layer is not a linear layer on the embeddings.
    """
    layer = classifier_layer(model)
    if not isinstance(layer, torch.nn.Linear) or layer.weight.shape != (num_classes, features.shape[1]):
        raise ModelError(f"the classification layer of {type(model).__name__} is not a linear layer on the "
                         "embeddings, so it cannot hold class prototypes; use a built-in or a timm model")
    norm = float(features.norm(dim=1).median().clamp(min=1e-6))
    with torch.no_grad():
        layer.weight.copy_(class_prototypes(features, labels, num_classes) * (COSINE_SCALE / norm))
        if layer.bias is not None:
            layer.bias.zero_()
    return norm
