"""128-d face descriptors of aligned chips, batched, with optional flip test-time augmentation.

Example:
    >>> import numpy as np
    >>> embed_chips([np.zeros((150, 150, 3), np.uint8)] * 2).shape   # doctest: +SKIP
    (2, 128)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch

from sightkit.core.threads import FastestThreadCount
from sightkit.tasks.face.model import load_resnet

EMBEDDING_DIM = 128
# Chips per forward pass: large enough to amortise the call, small enough for ~100 MB of activations.
BATCH_SIZE = 32
# One face at a time is small work: one thread is often faster than two, and far faster
# beside other jobs. The first calls of each batch shape choose (docs/threads.md).
_THREAD_CHOICE = FastestThreadCount()


def embed_chips(chips: Sequence[np.ndarray], flip: bool = False, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """``N x 128`` float32 descriptors of ``N`` aligned 150x150 RGB chips.

    ``flip=True`` averages each chip's descriptor with that of its mirror image, which
    removes part of the pose and lighting asymmetry between two photos of one person.

    Example:
        >>> vectors = embed_chips(chips, flip=True)            # doctest: +SKIP
        >>> float(np.linalg.norm(vectors[0] - vectors[1]))     # doctest: +SKIP
        0.41
    """
    if len(chips) == 0:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    batch = list(chips)
    if flip:
        batch += [np.ascontiguousarray(chip[:, ::-1]) for chip in chips]
    net = load_resnet()
    out = []
    with torch.inference_mode():
        for start in range(0, len(batch), batch_size):
            inputs = torch.from_numpy(np.stack(batch[start:start + batch_size]))
            out.append(_THREAD_CHOICE.run(tuple(inputs.shape), partial(net, inputs)).numpy())
    vectors = np.concatenate(out)
    if flip:
        vectors = (vectors[:len(chips)] + vectors[len(chips):]) / 2.0
    return vectors.astype(np.float32)
