"""Harmonic (Laplace) inpainting: hidden pixels filled smoothly from the visible ones around them.

Used to fill a face's occluder (:mod:`sightkit.tasks.face.restore`) and, for faithfulness
curves, to impute removed pixels from their neighbours instead of blurring them
(:mod:`sightkit.explain.faithfulness`).

Example:
    >>> image = np.zeros((3, 3, 1)); image[:, 2] = 2.0
    >>> hidden = np.zeros((3, 3), bool); hidden[:, 1] = True
    >>> harmonic_fill(image, hidden)[:, 1, 0].tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

import numpy as np


def harmonic_fill(values: np.ndarray, mask: np.ndarray, anchor: np.ndarray | None = None,
                  anchor_weight: float = 0.0) -> np.ndarray:
    """``values`` (``H x W x C`` float) with each ``mask`` pixel the mean of its 4-neighbours.

    One sparse linear system for all channels; neighbours outside the image do not count.
    With an ``anchor`` (same shape) and ``anchor_weight`` > 0, each hidden pixel is also
    pulled toward the anchor's value, with that weight against 1 per neighbour. This keeps
    the system solvable when every pixel is hidden; the result is then the anchor.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import splu

    out = np.array(values, dtype=np.float64, copy=True)
    if not mask.any():
        return out
    height, width = mask.shape
    index = -np.ones(mask.shape, dtype=np.int64)
    rows, cols = np.nonzero(mask)
    index[rows, cols] = np.arange(rows.size)
    rhs = np.zeros((rows.size, out.shape[2]))
    degree = np.zeros(rows.size)
    if anchor is not None and anchor_weight > 0:
        degree += anchor_weight
        rhs += anchor_weight * np.asarray(anchor, dtype=np.float64)[rows, cols]
    entries_i, entries_j = [], []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, c = rows + dy, cols + dx
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        degree += inside
        r, c, me = r[inside], c[inside], np.nonzero(inside)[0]
        hidden = mask[r, c]
        entries_i.append(me[hidden])
        entries_j.append(index[r[hidden], c[hidden]])
        np.add.at(rhs, me[~hidden], out[r[~hidden], c[~hidden]])
    i = np.concatenate([np.arange(rows.size), *entries_i])
    j = np.concatenate([np.arange(rows.size), *entries_j])
    data = np.concatenate([degree, -np.ones(i.size - rows.size)])
    system = coo_matrix((data, (i, j)), shape=(rows.size, rows.size)).tocsc()
    out[rows, cols] = splu(system).solve(rhs)
    return out
