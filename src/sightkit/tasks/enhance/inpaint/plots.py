"""The example grid of the inpainting report: masked input, Telea, Navier-Stokes, model, original."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

COLUMNS = ("masked", "Telea", "Navier-Stokes", "model", "original")


def example_grid(rows: list[list[np.ndarray]], bucket: str) -> Figure:
    """A figure with one row per example and the :data:`COLUMNS` as columns."""
    figure = Figure(figsize=(2.2 * len(COLUMNS), 2.2 * len(rows) + 0.4))
    axes = figure.subplots(len(rows), len(COLUMNS), squeeze=False)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            axes[r][c].imshow(image)
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
            if r == 0:
                axes[r][c].set_title(COLUMNS[c], fontsize=9)
    figure.suptitle(f"holes of {bucket} of the pixels")
    figure.tight_layout()
    return figure
