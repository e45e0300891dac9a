"""PatchCore's memory bank: greedy k-center coreset selection and nearest-neighbour patch distances.

Example:
    >>> feats = torch.randn(1000, 16)
    >>> bank = feats[greedy_coreset(feats, 50, seed=0)]
    >>> nearest_distance(torch.randn(4, 16), bank).shape
    torch.Size([4])
"""

from __future__ import annotations

import torch

# PatchCore selects the coreset in a random projection to 128 dimensions (Roth et al. 2022, sec. 3.2):
# distances are kept up to small distortion (Johnson-Lindenstrauss) at a fraction of the cost.
PROJECTION_DIM = 128
# Greedy selection costs (bank size x pool); a random pool of this many patches bounds it.
MAX_POOL = 50_000
# Rows of queries per distance block: keeps the (chunk x bank) matrix to a few tens of MB.
CHUNK = 2048


def greedy_coreset(features: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``n`` rows of ``features`` that cover the rest best (greedy k-center).

    Starts from a seeded random row, then repeatedly adds the row farthest from those chosen, in
    a seeded random projection to :data:`PROJECTION_DIM` dimensions. Over :data:`MAX_POOL`
    rows, a seeded random pool of them is searched.

    Example:
        >>> greedy_coreset(torch.tensor([[0.0], [0.1], [5.0], [10.0]]), 3, seed=0).sort().values.tolist()
        [0, 2, 3]
    """
    generator = torch.Generator().manual_seed(seed)
    total = features.shape[0]
    if n >= total:
        return torch.arange(total)
    pool = torch.randperm(total, generator=generator)[:MAX_POOL] if total > MAX_POOL else torch.arange(total)
    data = features[pool].float()
    if data.shape[1] > PROJECTION_DIM:
        projection = torch.randn(data.shape[1], PROJECTION_DIM, generator=generator) / PROJECTION_DIM ** 0.5
        data = data @ projection
    chosen = torch.empty(n, dtype=torch.long)
    chosen[0] = int(torch.randint(len(pool), (1,), generator=generator))
    nearest = ((data - data[chosen[0]]) ** 2).sum(1)
    for i in range(1, n):
        chosen[i] = int(nearest.argmax())
        nearest = torch.minimum(nearest, ((data - data[chosen[i]]) ** 2).sum(1))
    return pool[chosen]


def nearest_distance(queries: torch.Tensor, bank: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """Euclidean distance from each row of ``queries`` to its nearest row of ``bank``, in chunks.

    Example:
        >>> nearest_distance(torch.tensor([[0.0, 3.0]]), torch.tensor([[0.0, 0.0], [4.0, 3.0]])).tolist()
        [3.0]
    """
    out = torch.empty(queries.shape[0])
    for start in range(0, queries.shape[0], chunk):
        block = torch.cdist(queries[start:start + chunk].float(), bank.float())
        out[start:start + chunk] = block.min(dim=1).values
    return out
