"""Occlusion-consistent matching: compare a partly hidden face with enrollment photos hidden the same way.

A black box over a third of a face moves its descriptor far from the person's clean
enrollment descriptor, however well the hidden part is filled. When the occluder is known
(:func:`sightkit.tasks.face.restore.find_occluder`), the fair comparison is with the
enrollment photo *missing the same part*: the occluder is mapped into the aligned chip
(``Face.hidden``), that region is set to neutral grey in the probe's chip and in each
candidate's enrolled chips, and the candidates are re-ranked by the distance between those
masked descriptors. Landmarks drift when part of the face is hidden, so the probe is also
refitted in shifted and scaled boxes, and the few alignments closest to the candidates are
compared. This needs the enrolled chips, so a gallery only re-ranks when it keeps
them (``keep_images``); evaluation always has them.

Measured in ``benchmarks/faces.py`` (att_faces, 1 enrollment image): the ``occlusion20``
and ``occlusion35`` rows of its steps.

Example:
    >>> matches = rerank_occluded(face.alignments(), matches, chips_of=gallery.store.chips)  # doctest: +SKIP
    >>> matches[0]                                                                       # doctest: +SKIP
    ('ada', 0.41)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from sightkit.tasks.face.embed import embed_chips

if TYPE_CHECKING:
    from sightkit.tasks.face.index import PersonIndex
    from sightkit.tasks.face.pipeline import Face

# Grey put where the probe is hidden, in both chips: the descriptor sees "no information" there.
NEUTRAL_GREY = 128
# Candidates (from the plain descriptor ranking) re-ranked with masked descriptors.
RERANK_TOP = 10
# A face whose chip is hidden by less than this share is matched as it is.
MIN_HIDDEN_SHARE = 0.02
# Probe alignments compared with masked chips (chosen among the pipeline's and its refits).
ALIGNMENTS_KEPT = 3

ChipSource = Callable[[str], Sequence[np.ndarray]]


def ranked_matches(index: PersonIndex, face: Face, top_k: int, chips_of: ChipSource | None = None,
                   flip: bool = True) -> list[tuple[str, float]]:
    """The ``top_k`` people of ``index`` nearest ``face`` (mean over its views), nearest first.

    With ``chips_of`` (enrolled chips by name), a partly hidden face has its
    :data:`RERANK_TOP` nearest people re-ranked by :func:`rerank_occluded`.

    Example:
        >>> ranked_matches(index, face, top_k=5, chips_of=gallery.store.chips)[0]   # doctest: +SKIP
        ('ada', 0.41)
    """
    occluded = chips_of is not None and needs_rerank(face.hidden)
    matches = index.search_views(face.embeddings(), max(top_k, RERANK_TOP) if occluded else top_k)
    if occluded:
        matches = rerank_occluded(face.alignments(), matches, chips_of, flip)
    return matches[:top_k]


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


def rerank_occluded(alignments: Sequence[tuple[np.ndarray, np.ndarray]], matches: Sequence[tuple[str, float]],
                    chips_of: ChipSource, flip: bool = True, top: int = RERANK_TOP) -> list[tuple[str, float]]:
    """``matches`` with the first ``top`` people re-ranked by masked-descriptor distance.

    ``alignments`` are ``(chip, hidden)`` pairs of the probe face: its aligned chip with the
    occluded region in chip space, first as the pipeline aligned it, then refitted
    alternatives (landmarks drift when part of the face is hidden). The
    :data:`ALIGNMENTS_KEPT` alignments nearest to any candidate's plain descriptor are
    compared. ``chips_of(name)`` returns that person's enrolled chips (a person without any
    keeps their plain distance). A person's new distance is the smallest over alignments
    and chips; people beyond ``top`` follow unchanged.
    """
    head, tail = list(matches[:top]), list(matches[top:])
    owners, enrolled = [], []
    for name, _ in head:
        for chip in chips_of(name):
            owners.append(name)
            enrolled.append(chip)
    if not enrolled:
        return list(matches)
    alignments = _closest_alignments(alignments, enrolled, flip)
    batch = [masked for chip, hidden in alignments
             for masked in (mask_chip(chip, hidden), *(mask_chip(e, hidden) for e in enrolled))]
    vectors = embed_chips(batch, flip=flip).reshape(len(alignments), len(enrolled) + 1, -1)
    distances = np.linalg.norm(vectors[:, 1:] - vectors[:, :1], axis=2).min(axis=0)
    best: dict[str, float] = {}
    for name, distance in zip(owners, distances):
        best[name] = min(best.get(name, np.inf), float(distance))
    reranked = sorted(((name, best.get(name, plain)) for name, plain in head), key=lambda item: item[1])
    return reranked + tail


def _closest_alignments(alignments: Sequence[tuple[np.ndarray, np.ndarray]], enrolled: Sequence[np.ndarray],
                        flip: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """The :data:`ALIGNMENTS_KEPT` alignments whose plain descriptor is nearest to any enrolled chip's."""
    if len(alignments) <= ALIGNMENTS_KEPT:
        return list(alignments)
    vectors = embed_chips([chip for chip, _ in alignments] + list(enrolled), flip=flip)
    probe, gallery = vectors[:len(alignments)], vectors[len(alignments):]
    nearest = np.linalg.norm(probe[:, None] - gallery[None], axis=2).min(axis=1)
    return [alignments[i] for i in np.argsort(nearest, kind="stable")[:ALIGNMENTS_KEPT]]
