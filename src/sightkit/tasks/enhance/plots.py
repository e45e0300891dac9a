"""Figures of a super-resolution report: side-by-side crops (HR | bicubic | model).

Built without pyplot (no global state, no display), like every sightkit figure.

Example:
    >>> from PIL import Image
    >>> hr = Image.new("RGB", (64, 64))
    >>> fig = plot_crops([("img", hr, hr, hr)], "lightsr x4")
    >>> len(fig.axes)
    3
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

_CROP = 96  # HR px of each crop
_CELL_INCHES = 2.4


def detail_box(hr: Image.Image, side: int = _CROP) -> tuple[int, int, int, int]:
    """The ``side`` x ``side`` box of ``hr`` with the most gradient energy (where SR differs most)."""
    grey = np.asarray(hr.convert("L"), dtype=np.float32)
    side = min(side, *grey.shape)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1]
    step = max(1, side // 4)
    best, box = -1.0, (0, 0, side, side)
    for top in range(0, grey.shape[0] - side + 1, step):
        for left in range(0, grey.shape[1] - side + 1, step):
            score = float(energy[top:top + side - 1, left:left + side - 1].sum())
            if score > best:
                best, box = score, (left, top, left + side, top + side)
    return box


def plot_crops(rows: Sequence[tuple[str, Image.Image, Image.Image, Image.Image]], model_label: str) -> Figure:
    """One row per ``(name, hr, bicubic, sr)``: the same detailed crop of each, pixels unsmoothed."""
    fig = Figure(figsize=(3 * _CELL_INCHES, _CELL_INCHES * max(1, len(rows))), layout="constrained")
    axes = fig.subplots(max(1, len(rows)), 3, squeeze=False)
    for r, (name, hr, bicubic, sr) in enumerate(rows):
        box = detail_box(hr)
        for c, (title, image) in enumerate((("HR", hr), ("bicubic", bicubic), (model_label, sr))):
            ax = axes[r][c]
            crop = image.crop(box)
            ax.imshow(np.asarray(crop), cmap="gray" if crop.mode == "L" else None, vmin=0, vmax=255,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}: {title}" if c == 0 else title, fontsize=9)
    return fig
