"""Figures of the face reports: ROC, distance histograms, open-set DIR curve, robustness bars.

Each function returns a :class:`matplotlib.figure.Figure` (no pyplot state) for
:func:`sightkit.core.report.write_report`.

Example:
    >>> import numpy as np
    >>> fig = roc_curve(np.array([0.3, 0.4]), np.array([0.7, 0.9]))
    >>> fig.axes[0].get_xlabel()
    'false accept rate'
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from sightkit.tasks.face.calibration import roc


def roc_curve(genuine: np.ndarray, impostor: np.ndarray) -> Figure:
    """TAR against FAR on a log FAR axis."""
    _, far, tar = roc(genuine, impostor)
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    floor = 1.0 / max(10, impostor.size)
    ax.semilogx(np.maximum(far, floor), tar)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_ylim(0, 1.01)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def distance_histogram(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> Figure:
    """Genuine and impostor distance densities with the recommended threshold."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    bins = np.linspace(0, max(1.2, float(np.max(impostor, initial=1.0))), 60)
    ax.hist(genuine, bins=bins, density=True, alpha=0.6, label=f"genuine ({genuine.size})")
    ax.hist(impostor, bins=bins, density=True, alpha=0.6, label=f"impostor ({impostor.size})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("descriptor distance")
    ax.legend()
    fig.tight_layout()
    return fig


def open_set_curve(curve: list[dict]) -> Figure:
    """Detection-and-identification rate against false-alarm rate."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    ax.plot([p["far"] for p in curve], [p["dir"] for p in curve], marker=".")
    ax.set_xlabel("false alarm rate (unknown people accepted)")
    ax.set_ylabel("detection and identification rate")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def degrade_bars(clean: float, rates: dict[str, float]) -> Figure:
    """Rank-1 rate per robustness condition, clean first."""
    names = ["clean", *rates]
    values = [clean, *rates.values()]
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.bar(names, values, color=["#4477aa"] + ["#ee8866"] * len(rates))
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("rank-1 identification rate")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig
