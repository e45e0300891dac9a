"""Is a map faithful to the model? Deletion / insertion curves and the randomisation sanity check.

**Deletion** (Petsiuk et al. 2018, RISE): replace pixels with a baseline in the order of the
map, most important first, and follow the target class's (calibrated) probability; a
faithful map makes it fall fast, so the area under the curve is *low*. **Insertion** starts
from the baseline and reveals pixels in the same order; a faithful map makes the
probability rise fast, so its area is *high*. Each curve has ``steps + 1`` points at pixel
fractions 0, 1/steps, ..., 1; the area is the trapezoid rule over that fraction axis, so it
lies in [0, 1]. Ties in a map are broken at random, never in raster order.

Three references, each scored the same way:

* ``random_``: uniformly random pixel orders (averaged over a few). Scattered single pixels
  act like noise on a small image, so on 32 px CIFAR they take the probability down faster
  than removing any one region does. Which curve a map "wins" then flips with how pixels are
  removed: on CIFAR, Grad-CAM's deletion / insertion beat this reference on 67% / 82% of
  images with blurred pixels, on 97% / 55% with imputed ones (``docs/explain.md``).
* ``region_random_``: random orders of the map's own cells (``cell`` x ``cell`` pixel
  blocks, e.g. 8 px for a Grad-CAM read from a 4x4 feature map at 32 px), so the map and
  its reference remove pixels in the same kind of blobs and only the choice of blobs differs.
* ``centre_``: a fixed Gaussian bump in the middle of the image, a map that ignores the
  model. Objects tend to sit in the middle, so this prior beats random orders on many
  images by itself; a map that also beats it shows it read the model, not the photographer.

With ``impute=True`` removed pixels are not set to the baseline but imputed from the kept
ones around them (harmonic fill, :mod:`sightkit.core.inpaint`), as ROAD (Rong et al. 2022)
recommends so that the pattern of removed pixels carries no signal of its own; the baseline
then only anchors pixels with no kept neighbour nearby (with everything removed, the image
is the baseline).

**Sanity check** (Adebayo et al. 2018): re-initialise every weight of the model and explain
again; a method that shows what the model learned must give a different map, so the
Spearman rank correlation between the two maps should be low. A constant map has no ranks,
and its correlation counts as 0.

Example:
    >>> scores = deletion_insertion(probs_of, batch, maps, targets, baseline)  # doctest: +SKIP
    >>> scores["deletion_auc"].mean(), scores["random_deletion_auc"].mean()    # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from sightkit.core.inpaint import harmonic_fill

# Steps per curve (1/16 of the pixels each): 17 forward passes per curve keep scoring cheap,
# and the trapezoid rule over them is smooth enough to rank a map against random orders.
DEFAULT_STEPS = 16
# Random orders averaged into the reference curves: one alone is too noisy to judge one image by.
RANDOM_ORDERS = 4
# Width of the centre prior's Gaussian, as a share of the image side.
CENTRE_SIGMA = 0.25
# Pull of the baseline on an imputed pixel, against 1 per neighbour (``impute=True``).
IMPUTE_ANCHOR = 1e-3
# Most perturbed images per forward pass.
_CHUNK = 256

ProbabilityFn = Callable[[torch.Tensor], torch.Tensor]


def deletion_insertion(probs_of: ProbabilityFn, inputs: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor,
                       baseline: torch.Tensor, steps: int = DEFAULT_STEPS, random_orders: int = RANDOM_ORDERS,
                       seed: int = 0, cell: int = 1, impute: bool = False) -> dict[str, np.ndarray]:
    """Per-image areas under the deletion and insertion curves, for the map and its references.

    ``probs_of`` maps a batch of normalised images to class probabilities ``(N, K)``;
    ``inputs`` and ``baseline`` are ``(N, C, H, W)``, ``maps`` ``(N, H, W)``, ``targets``
    ``(N,)``; ``cell`` is the side in pixels of the map's own cells; ``impute`` fills removed
    pixels from their neighbours instead of the baseline (see the module docstring). Returns arrays of
    length N under ``deletion_auc``, ``insertion_auc``, and the same two areas prefixed
    ``random_`` and ``region_random_`` (each the mean over ``random_orders`` orders) and
    ``centre_`` (see the module docstring), and the mean curves (``steps + 1`` points) under
    ``deletion_curve``, ``insertion_curve`` and their prefixed twins.
    """
    rng = np.random.default_rng(seed)
    side_y, side_x = maps.shape[-2:]
    pixels = side_y * side_x
    heat = maps.detach().cpu().flatten(1).numpy()

    def ranked(values: np.ndarray) -> np.ndarray:
        return np.lexsort((rng.random(heat.shape), -values), axis=-1)

    orders = {"": [ranked(heat)],
              "random_": [np.argsort(rng.random(heat.shape), axis=-1) for _ in range(random_orders)]}
    if cell > 1:
        orders["region_random_"] = [ranked(_random_cells(len(heat), side_y, side_x, cell, rng))
                                    for _ in range(random_orders)]
    orders["centre_"] = [ranked(np.broadcast_to(centre_prior(side_y, side_x), heat.shape))]
    counts = np.rint(np.linspace(0, 1, steps + 1) * pixels).astype(np.int64)
    fractions = counts / pixels
    out: dict[str, np.ndarray] = {}
    for prefix, order_list in orders.items():
        for kind in ("deletion", "insertion"):
            curves = np.mean([_curves(probs_of, inputs, baseline, _masks(order, counts), targets, kind, impute)
                              for order in order_list], axis=0)
            out[f"{prefix}{kind}_auc"] = _trapezoid(curves, fractions)
            out[f"{prefix}{kind}_curve"] = curves.mean(0)
    if cell <= 1:  # the map's cells are pixels: its region orders are the random pixel orders
        out.update({f"region_{key}": value for key, value in out.items() if key.startswith("random_")})
    return out


def randomized_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every parameter and buffer re-initialised (eval mode).

    Modules with ``reset_parameters`` (conv, linear, norm layers; norms also reset their
    running statistics) use their own initialiser; any other parameter is drawn from
    N(0, 0.02). The random state of the caller is left as it was.

    Example:
        >>> random_model = randomized_copy(predictor.model)  # doctest: +SKIP
    """
    clone = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        reset = set()
        for module in clone.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
                reset.update(id(p) for p in module.parameters(recurse=False))
        with torch.no_grad():
            for param in clone.parameters():
                if id(param) not in reset:
                    param.normal_(0.0, 0.02)
    return clone.eval()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (flattened); 0.0 when either is constant.

    Example:
        >>> rank_correlation(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 40.0]))
        1.0
    """
    ra, rb = _average_ranks(np.ravel(a)), _average_ranks(np.ravel(b))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _curves(probs_of: ProbabilityFn, inputs: torch.Tensor, baseline: torch.Tensor, masks: torch.Tensor,
            targets: torch.Tensor, kind: str, impute: bool = False) -> np.ndarray:
    """Target probability at each step of each image's curve, ``(N, steps + 1)``."""
    n, points = masks.shape[:2]
    group = max(1, _CHUNK // points)
    rows = []
    with torch.no_grad():
        for lo in range(0, n, group):
            idx = range(lo, min(n, lo + group))
            perturbed = torch.cat([_perturb(inputs[i], baseline[i], masks[i], kind, impute) for i in idx])
            probs = probs_of(perturbed).float().cpu().view(len(idx), points, -1)
            rows.append(probs[torch.arange(len(idx)), :, targets[lo:lo + len(idx)].cpu()])
    return torch.cat(rows).numpy()


def _perturb(image: torch.Tensor, baseline: torch.Tensor, mask: torch.Tensor, kind: str,
             impute: bool = False) -> torch.Tensor:
    """``(points, C, H, W)``: deletion removes the masked pixels, insertion all the others.

    Removed pixels take the baseline's values, or with ``impute`` are filled from the kept ones.
    """
    mask = mask.view(len(mask), 1, *image.shape[1:]).to(image.device)
    if not impute:
        return torch.where(mask, baseline, image) if kind == "deletion" else torch.where(mask, image, baseline)
    removed = (mask if kind == "deletion" else ~mask)[:, 0].cpu().numpy()
    values, anchor = image.permute(1, 2, 0).cpu().numpy(), baseline.permute(1, 2, 0).cpu().numpy()
    filled = np.stack([harmonic_fill(values, hidden, anchor, IMPUTE_ANCHOR) for hidden in removed])
    return torch.from_numpy(filled).permute(0, 3, 1, 2).to(image)


def _random_cells(n: int, side_y: int, side_x: int, cell: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, side_y * side_x)`` values constant on ``cell`` x ``cell`` blocks, random per block."""
    blocks = rng.random((n, -(-side_y // cell), -(-side_x // cell)))
    return blocks.repeat(cell, 1).repeat(cell, 2)[:, :side_y, :side_x].reshape(n, -1)


def centre_prior(side_y: int, side_x: int) -> np.ndarray:
    """A Gaussian bump (sigma :data:`CENTRE_SIGMA` of the side) centred in the image, flattened.

    Example:
        >>> int(centre_prior(3, 3).argmax())
        4
    """
    y = (np.arange(side_y) - (side_y - 1) / 2) / side_y
    x = (np.arange(side_x) - (side_x - 1) / 2) / side_x
    return np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * CENTRE_SIGMA ** 2)).ravel()


def _masks(order: np.ndarray, counts: np.ndarray) -> torch.Tensor:
    """``masks[i, k, p]``: pixel ``p`` is among the first ``counts[k]`` of image ``i``'s ``order``."""
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(order.shape[1])[None, :].repeat(len(order), 0), axis=1)
    return torch.from_numpy(ranks[:, None, :] < counts[None, :, None])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``, tied values sharing their mean rank (as Spearman's rho needs)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - (counts - 1) / 2)[inverse]).astype(np.float64)


def _trapezoid(curves: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Area under each row of ``curves`` over ``x`` by the trapezoid rule."""
    return ((curves[:, 1:] + curves[:, :-1]) / 2 * np.diff(x)[None, :]).sum(1)
