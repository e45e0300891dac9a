"""Occlusion-consistent matching: compare a partly hidden face with enrollment photos hidden the same way.

A black box over a third of a face moves its descriptor far from the person's clean
enrollment descriptor, however well the hidden part is filled. When the occluder is known
(:func:`sightkit.tasks.face.restore.find_occluder`), the fair comparison is with the
enrollment photo *missing the same part*: the occluder is mapped into the aligned chip
(``Face.hidden``), that region is set to neutral grey in the probe's chip and in each
candidate's enrolled chips, and the candidates are re-ranked by the distance between those
masked descriptors. This needs the enrolled chips, so a gallery only re-ranks when it keeps
them (``keep_images``); evaluation always has them.

Measured in ``benchmarks/faces.py`` (att_faces, 1 enrollment image): the ``occlusion20``
and ``occlusion35`` rows of its steps.

Example:
    >>> matches = rerank_occluded(face, matches, chips_of=gallery.store.chips, flip=True)  # doctest: +SKIP
    >>> matches[0]                                                                       # doctest: +SKIP
    ('ada', 0.41)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sightkit.tasks.face.embed import embed_chips

# Grey put where the probe is hidden, in both chips: the descriptor sees "no information" there.
NEUTRAL_GREY = 128
# Candidates (from the plain descriptor ranking) re-ranked with masked descriptors.
RERANK_TOP = 10
# A face whose chip is hidden by less than this share is matched as it is.
MIN_HIDDEN_SHARE = 0.02

ChipSource = Callable[[str], Sequence[np.ndarray]]


def mask_chip(chip: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """``chip`` with the ``hidden`` pixels (a boolean chip-sized mask) set to neutral grey.

    Example:
        >>> hidden = np.zeros((4, 4), bool); hidden[:2] = True
        >>> int(mask_chip(np.zeros((4, 4, 3), np.uint8), hidden)[0, 0, 0])
        128
    """
    out = np.array(chip, copy=True)
    out[hidden] = NEUTRAL_GREY
    return out


def needs_rerank(hidden: np.ndarray | None) -> bool:
    """Whether a face's chip is hidden enough for occlusion-consistent matching to apply."""
    return hidden is not None and float(hidden.mean()) >= MIN_HIDDEN_SHARE


def rerank_occluded(chip: np.ndarray, hidden: np.ndarray, matches: Sequence[tuple[str, float]],
                    chips_of: ChipSource, flip: bool = True, top: int = RERANK_TOP) -> list[tuple[str, float]]:
    """``matches`` with the first ``top`` people re-ranked by masked-descriptor distance.

    ``chip`` is the probe's aligned chip and ``hidden`` its occluded region in chip space;
    ``chips_of(name)`` returns that person's enrolled chips (a person without any keeps
    their plain distance). A person's new distance is the smallest over their chips; people
    beyond ``top`` follow unchanged.
    """
    head, tail = list(matches[:top]), list(matches[top:])
    owners, chips = [], []
    for name, _ in head:
        for enrolled in chips_of(name):
            owners.append(name)
            chips.append(mask_chip(enrolled, hidden))
    if not chips:
        return list(matches)
    vectors = embed_chips([mask_chip(chip, hidden), *chips], flip=flip)
    distances = np.linalg.norm(vectors[1:] - vectors[0], axis=1)
    best: dict[str, float] = {}
    for name, distance in zip(owners, distances):
        best[name] = min(best.get(name, np.inf), float(distance))
    reranked = sorted(((name, best.get(name, plain)) for name, plain in head), key=lambda item: item[1])
    return reranked + tail
