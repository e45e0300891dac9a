"""Measures of generated images: diversity (collapse), FID / KID, and k-NN precision / recall.

Conventions:

* **diversity**: the mean pairwise Euclidean distance between the images of a batch (pixels in
  [-1, 1], flattened), between images of the same class when labels are given; the *ratio* of a
  generated batch's diversity to a real batch's tells mode collapse (1 = as varied as the
  data; a constant generator gives 0, and so does one that draws one image per class).
* **FID / KID** are torchmetrics' ``FrechetInceptionDistance`` / ``KernelInceptionDistance`` on
  features given by the caller (here a sightkit classifier's penultimate layer, not
  InceptionV3), so numbers compare only within one feature network: read them beside the
  real-vs-real baseline computed with the same features.
* **precision / recall**: the improved k-NN manifold estimate of Kynkaanniemi et al. (2019),
  k = 3: precision is the share of generated features inside the k-NN ball of some real
  feature; recall is the share of real features inside the k-NN ball of some generated one.

Example:
    >>> real = torch.randn(64, 8)
    >>> round(diversity_ratio(real[:1].repeat(64, 1), real), 3)
    0.0
    >>> p, r = precision_recall(real, real)
    >>> p, r
    (1.0, 1.0)
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

KNN_K = 3  # Kynkaanniemi et al. 2019


def mean_pairwise_distance(batch: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """Mean Euclidean distance over pairs of distinct items of ``batch`` (flattened); with ``labels``,
    only pairs of the same label (the diversity *within* classes)."""
    flat = batch.reshape(len(batch), -1).double()
    pairs = ~torch.eye(len(flat), dtype=torch.bool)
    if labels is not None:
        pairs &= labels[:, None].cpu() == labels[None, :].cpu()
    if not pairs.any():
        raise ValueError("diversity needs at least two images (of one class)")
    return float(torch.cdist(flat, flat).cpu()[pairs].mean())


def diversity_ratio(fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """Diversity of ``fake`` as a share of ``real``'s (same range; ``labels`` of both, to compare within classes)."""
    return mean_pairwise_distance(fake, labels) / max(mean_pairwise_distance(real, labels), 1e-12)


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = KNN_K) -> tuple[float, float]:
    """``(precision, recall)`` of ``fake`` features against ``real`` features (k-NN manifolds)."""
    fake, real = fake.double(), real.double()
    return _coverage(fake, real, k), _coverage(real, fake, k)


def _coverage(queries: torch.Tensor, support: torch.Tensor, k: int) -> float:
    """Share of ``queries`` within the k-NN radius of at least one ``support`` point."""
    k = min(k, len(support) - 1)
    within = torch.cdist(support, support)
    radii = within.kthvalue(k + 1, dim=1).values  # +1: each point is its own nearest neighbour
    return float((torch.cdist(queries, support) <= radii[None, :]).any(dim=1).double().mean())


class _Precomputed(nn.Module):
    """Hands torchmetrics features that were computed already (its 'feature extractor' is the identity)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid_kid(fake: torch.Tensor, real: torch.Tensor, kid_subsets: int = 50) -> dict[str, float]:
    """FID and KID (mean, std over subsets) of ``fake`` vs ``real`` feature matrices, by torchmetrics.

    Example:
        >>> scores = fid_kid(torch.randn(100, 16) + 3, torch.randn(100, 16))  # doctest: +SKIP
        >>> scores["fid"] > 100  # doctest: +SKIP
        True
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    width = real.shape[1]
    fid = FrechetInceptionDistance(feature=_Precomputed(width))
    with warnings.catch_warnings():  # that KID keeps every feature: these are small matrices already
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=_Precomputed(width), subsets=kid_subsets,
                                      subset_size=max(2, min(1000, len(fake) // 2, len(real) // 2)))
    for metric in (fid, kid):
        metric.update(real.double(), real=True)
        metric.update(fake.double(), real=False)
    kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}
