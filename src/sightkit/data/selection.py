"""Which unlabelled images to label next: uncertainty scores, k-center greedy diversity, and the strategies.

Pure numpy on class probabilities ``(N, C)`` and embeddings ``(N, D)``; reading images and running
the classifier live in :mod:`sightkit.data.active`.

* ``margin``: 1 - (top probability - second probability); 1 when the two best classes tie.
* ``entropy``: the entropy of the probabilities divided by ``log(C)``, so 0..1.
* ``random``: a seeded random sample (the baseline every other strategy must beat).
* ``hybrid`` (default): the :data:`CANDIDATE_FACTOR` x n images of highest margin uncertainty, then
  k-center greedy among them on the embeddings, starting from the already labelled images, so the
  batch is uncertain *and* spread out instead of n near-copies of one confusing image.
* ``badge``: BADGE (Ash et al., ICLR 2020): k-means++ seeding on gradient embeddings, the
  penultimate features times (one-hot of the predicted class - probabilities). Their length grows
  with the uncertainty and their directions spread with the features, so one rule trades
  uncertainty against diversity, without a candidate factor to tune.

Example:
    >>> probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.6, 0.4]])
    >>> uncertainty(probs, "margin").round(2).tolist()
    [1.0, 0.2, 0.8]
    >>> k_center_greedy(np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0]]), 2, first=0)[0]
    [0, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sightkit.errors import ConfigError

STRATEGIES = ("hybrid", "badge", "margin", "entropy", "random")
DEFAULT_STRATEGY = "hybrid"
# hybrid: k-center picks n images among the CANDIDATE_FACTOR * n most uncertain ones. Of 3, 10 and 40
# (~pure k-center) on the CIFAR-10 curve of benchmarks/data_active.py, 10 lost least to random at 500
# labels; none beat random there (docs/data.md, "Measured").
CANDIDATE_FACTOR = 10
_BLOCK = 4096  # rows of the pool compared with the centres at a time (bounds memory on large pools)


@dataclass(frozen=True)
class Selection:
    """The chosen rows of the pool, best first, with each one's score and the reason it was chosen.

    ``score`` is the uncertainty (margin or entropy, 0..1; the margin uncertainty for ``hybrid``;
    0 for ``random``); ``distance`` is the embedding distance to the nearest labelled or earlier
    chosen image when k-center chose it (None otherwise).
    """

    indices: list[int]
    scores: list[float]
    distances: list[float | None]


def uncertainty(probs: np.ndarray, measure: str = "margin") -> np.ndarray:
    """Per-row uncertainty in 0..1 (higher: more worth labelling) of class probabilities ``(N, C)``.

    Example:
        >>> uncertainty(np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]]), "entropy").round(6).tolist()
        [1.0, 0.0]
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ConfigError(f"probabilities must be (images, classes) with at least 2 classes; got {probs.shape}")
    if measure == "margin":
        top2 = np.sort(probs, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    if measure == "entropy":
        p = np.clip(probs, 1e-12, 1.0)
        return -(p * np.log(p)).sum(axis=1) / np.log(probs.shape[1])
    raise ConfigError(f"uncertainty measure {measure!r}: choose margin or entropy")


def k_center_greedy(points: np.ndarray, n: int, centers: np.ndarray | None = None,
                    first: int | None = None) -> tuple[list[int], list[float]]:
    """Pick ``n`` rows of ``points``, each the farthest (Euclidean) from ``centers`` and the rows picked before.

    The 2-approximation of the k-center problem (Sener & Savarese, "Active learning for
    convolutional neural networks: a core-set approach", 2018). Without ``centers`` the first
    pick is row ``first`` (default 0). Returns the picked rows in order and the distance of each
    to its nearest centre when picked (``inf`` for a first pick without centres).

    Example:
        >>> points = np.array([[1, 0], [2, 0], [0, 3]], dtype=float)
        >>> k_center_greedy(points, 2, centers=np.array([[0.0, 0.0]]))
        ([2, 1], [3.0, 2.0])
    """
    points = np.asarray(points, dtype=np.float64)
    if not 0 < n <= len(points):
        raise ConfigError(f"k-center: cannot pick {n} of {len(points)} points")
    nearest = np.full(len(points), np.inf)
    if centers is not None and len(centers):
        nearest = _nearest_distance(points, np.asarray(centers, dtype=np.float64))
    picked: list[int] = []
    distances: list[float] = []
    for step in range(n):
        index = int(np.argmax(nearest)) if step or np.isfinite(nearest).any() else (first or 0)
        picked.append(index)
        distances.append(float(nearest[index]))
        nearest = np.minimum(nearest, np.linalg.norm(points - points[index], axis=1))
        nearest[index] = -1.0  # never picked twice, even when rows coincide
    return picked, distances


def select(strategy: str, n: int, probs: np.ndarray | None = None, embeddings: np.ndarray | None = None,
           labelled: np.ndarray | None = None, seed: int = 0, candidate_factor: int = CANDIDATE_FACTOR,
           size: int | None = None) -> Selection:
    """Choose ``n`` rows of a pool with ``strategy`` (one of :data:`STRATEGIES`).

    ``probs`` are needed by every strategy but ``random`` (which needs only the pool ``size``);
    ``embeddings`` (rows of the pool) by ``hybrid`` and ``badge``, and ``labelled`` (embeddings of
    the labelled images, optional) by ``hybrid``.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.7, 0.3]])
        >>> select("margin", 2, probs).indices
        [1, 2]
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy {strategy}: choose one of {', '.join(STRATEGIES)}")
    if probs is not None:
        size = len(probs)
    elif strategy != "random":
        raise ConfigError(f"--strategy {strategy} needs the classifier's probabilities of the pool")
    size = size or 0
    if n < 1 or n > size:
        raise ConfigError(f"-n {n}: choose between 1 and the {size} images of the pool")
    if strategy == "random":
        rows = np.random.default_rng(seed).permutation(size)[:n].tolist()
        return Selection(rows, [0.0] * n, [None] * n)
    scores = uncertainty(probs, "entropy" if strategy == "entropy" else "margin")
    order = np.argsort(-scores, kind="stable")
    if strategy not in ("hybrid", "badge"):
        rows = order[:n].tolist()
        return Selection(rows, [float(scores[i]) for i in rows], [None] * n)
    if embeddings is None or len(embeddings) != len(scores):
        raise ConfigError(f"{strategy} needs one embedding per image of the pool")
    if strategy == "badge":
        rows, distances = kmeans_pp_gradients(probs, embeddings, n, seed)
        return Selection(rows, [float(scores[i]) for i in rows], [d if np.isfinite(d) else None for d in distances])
    candidates = order[:min(len(order), max(n, candidate_factor * n))]
    picked, distances = k_center_greedy(np.asarray(embeddings)[candidates], n, labelled, first=0)
    rows = [int(candidates[i]) for i in picked]
    return Selection(rows, [float(scores[i]) for i in rows], [d if np.isfinite(d) else None for d in distances])


def kmeans_pp_gradients(probs: np.ndarray, embeddings: np.ndarray, n: int, seed: int = 0,
                        ) -> tuple[list[int], list[float]]:
    """BADGE's pick: k-means++ seeding on the gradient embeddings ``(onehot(argmax p) - p) x h`` of the pool.

    The first pick is the longest gradient embedding; each next one is drawn with probability
    proportional to its squared distance from the nearest pick (seeded). The ``(N, C x D)``
    embeddings are never built: ``<g_i, g_j> = <a_i, a_j> <h_i, h_j>`` with ``a = onehot - p``.
    Returns the picked rows and each one's distance to the nearest earlier pick (``inf`` first).

    Example:
        >>> probs = np.array([[0.99, 0.01], [0.5, 0.5], [0.6, 0.4]])
        >>> kmeans_pp_gradients(probs, np.eye(3), 1)[0]
        [1]
    """
    probs = np.asarray(probs, dtype=np.float64)
    features = np.asarray(embeddings, dtype=np.float64)
    if not 0 < n <= len(probs):
        raise ConfigError(f"badge: cannot pick {n} of {len(probs)} images")
    residual = -probs
    residual[np.arange(len(probs)), probs.argmax(1)] += 1.0
    squared = (residual ** 2).sum(1) * (features ** 2).sum(1)
    rng = np.random.default_rng(seed)
    nearest = np.full(len(probs), np.inf)
    index = int(np.argmax(squared))
    picked: list[int] = []
    distances: list[float] = []
    for step in range(n):
        picked.append(index)
        distances.append(float(np.sqrt(nearest[index])) if step else float("inf"))
        to_pick = squared + squared[index] - 2.0 * (residual @ residual[index]) * (features @ features[index])
        nearest = np.minimum(nearest, np.clip(to_pick, 0.0, None))
        nearest[picked] = 0.0
        if step + 1 < n:
            total = nearest.sum()
            if total > 0:
                index = int(rng.choice(len(probs), p=nearest / total))
            else:  # every image left coincides with a pick: any of them
                index = int(rng.choice(np.setdiff1d(np.arange(len(probs)), picked)))
    return picked, distances


def _nearest_distance(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of ``points`` to its nearest row of ``centers``, a block at a time."""
    out = np.empty(len(points))
    center_sq = (centers ** 2).sum(1)
    for start in range(0, len(points), _BLOCK):
        block = points[start:start + _BLOCK]
        squared = (block ** 2).sum(1)[:, None] + center_sq[None, :] - 2.0 * block @ centers.T
        out[start:start + _BLOCK] = np.sqrt(np.clip(squared.min(1), 0.0, None))
    return out
