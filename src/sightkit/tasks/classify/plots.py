"""Figures for a classification report: training curves, confusion matrix, reliability diagram, image grid.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so no global
figure state is touched and no display is needed; save it with ``fig.savefig(path)`` (PNG is
rendered by Agg) or hand it to :func:`sightkit.core.report.write_report`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from sightkit.errors import ConfigError, DataError

# Above this many classes the confusion matrix drops per-cell numbers: they become unreadable.
_MAX_ANNOTATED_CLASSES = 15
# Image grid cells: side in inches, caption font size, and the mean width of a character as a
# fraction of the font size (DejaVu Sans, matplotlib's default), to wrap captions to the cell.
_CELL_INCHES = 2.0
_CAPTION_POINTS = 7
_CHAR_WIDTH = 0.62


def plot_confusion_matrix(
    matrix: np.ndarray | Sequence[Sequence[int]],
    class_names: list[str],
    normalize: bool = True,
) -> Figure:
    """Draw a confusion matrix (rows = true class, columns = predicted class) as a heat map.

    With ``normalize`` each row is divided by its count, so cells read as recall fractions
    (a class with no samples stays at 0). Cell values are written into the cells only for
    up to 15 classes; the figure grows with the class count and stays legible to ~50.

    Example:
        >>> fig = plot_confusion_matrix([[5, 1], [2, 7]], ["cat", "dog"])
        >>> fig.savefig("confusion_matrix.png")  # doctest: +SKIP
    """
    counts = np.asarray(matrix, dtype=np.float64)
    k = len(class_names)
    if counts.shape != (k, k):
        raise DataError(
            f"confusion matrix has shape {counts.shape}, expected ({k}, {k}) for {k} class names."
        )
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0) if normalize else counts
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)

    side = min(max(4.5, 2.5 + 0.25 * k), 16.0)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of true class" if normalize else "count")

    font = 9 if k <= _MAX_ANNOTATED_CLASSES else max(6, 9 - k // 15)
    labels = [_plain(name) for name in class_names]
    tilt = {"rotation": 30, "ha": "right"} if k <= 6 else {"rotation": 90, "ha": "center"}
    ax.set_xticks(range(k), labels=labels, fontsize=font, **tilt)
    ax.set_yticks(range(k), labels=labels, fontsize=font)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title("Confusion matrix" + (" (row-normalised)" if normalize else ""))
    if k <= _MAX_ANNOTATED_CLASSES:
        for (row, col), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            color = "white" if value > 0.5 * vmax else "black"
            ax.text(col, row, text, ha="center", va="center", color=color, fontsize=font)
    return fig


def plot_reliability(
    bins: dict,
    ece: float,
    bins_uncal: dict | None = None,
    ece_uncal: float | None = None,
) -> Figure:
    """Draw a reliability diagram with a histogram of confidences below it.

    ``bins`` is the output of :func:`~sightkit.tasks.classify.calibration.reliability_bins`.
    Bars show the accuracy of each non-empty bin, a hatched red bar the gap to its mean
    confidence, and the dashed diagonal perfect calibration. With ``bins_uncal`` (and
    ``ece_uncal``) a second panel on the left shows the model before temperature scaling.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
        >>> bins = reliability_bins(probs, np.array([0, 1, 1]))      # doctest: +SKIP
        >>> fig = plot_reliability(bins, ece=0.2)                    # doctest: +SKIP
    """
    if bins_uncal is None:
        panels = [("Reliability", bins, ece)]
    else:
        panels = [
            ("Before temperature scaling", bins_uncal, ece_uncal),
            ("After temperature scaling", bins, ece),
        ]
    fig = Figure(figsize=(4.8 * len(panels), 6.0), layout="constrained")
    grid = fig.add_gridspec(2, len(panels), height_ratios=[3, 1])
    for col, (title, panel_bins, panel_ece) in enumerate(panels):
        top = fig.add_subplot(grid[0, col])
        bottom = fig.add_subplot(grid[1, col], sharex=top)
        _draw_reliability(top, bottom, panel_bins, panel_ece, title)
    return fig


def plot_roc(medical: dict) -> Figure:
    """Draw the ROC curve of the positive class with its operating point, and the medical metrics beside it.

    ``medical`` is the output of :func:`~sightkit.tasks.classify.medical.medical_metrics`; the
    table lists sensitivity, specificity, PPV, NPV and AUROC with their 95% bootstrap intervals.

    Example:
        >>> m = medical_metrics(probs, labels, ["normal", "pneumonia"])   # doctest: +SKIP
        >>> plot_roc(m).savefig("roc_curve.png")                          # doctest: +SKIP
    """
    fig = Figure(figsize=(9.6, 4.6), layout="constrained")
    grid = fig.add_gridspec(1, 2, width_ratios=[1.1, 1])
    ax = fig.add_subplot(grid[0, 0])
    roc, auroc = medical["roc"], medical["auroc"]["value"]
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1)
    if roc["fpr"]:
        ax.step(roc["fpr"], roc["tpr"], where="post", color="tab:blue",
                label=f"ROC (AUROC {auroc:.3f})" if auroc is not None else "ROC")
    sensitivity, specificity = medical["sensitivity"]["value"], medical["specificity"]["value"]
    if sensitivity is not None and specificity is not None:
        ax.plot([1 - specificity], [sensitivity], "o", color="tab:red",
                label=f"operating point ({medical['decision']})")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="1 - specificity (false positive rate)",
           ylabel="sensitivity (true positive rate)", title=f"ROC, positive class: {_plain(medical['positive_class'])}")
    ax.legend(loc="lower right", fontsize=8)
    table = fig.add_subplot(grid[0, 1])
    table.axis("off")
    names = {"sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV", "npv": "NPV", "auroc": "AUROC"}
    rows = [[shown, _value(medical[name]["value"]), _span(medical[name]["ci95"])] for name, shown in names.items()]
    confusion = medical["confusion"]
    rows += [["TP / FN", f"{confusion['tp']} / {confusion['fn']}", ""],
             ["TN / FP", f"{confusion['tn']} / {confusion['fp']}", ""]]
    drawn = table.table(cellText=rows, colLabels=["metric", "value", "95% CI (bootstrap)"], loc="center")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(9)
    drawn.scale(1.0, 1.6)
    table.set_title(f"{medical['n_positive']} positive, {medical['n_negative']} negative cases; "
                    f"{medical['resamples']} resamples", fontsize=9)
    return fig


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _span(interval: list[float] | None) -> str:
    return "n/a" if interval is None else f"{interval[0]:.3f} - {interval[1]:.3f}"


def plot_image_grid(
    images: Sequence[np.ndarray | Image.Image],
    captions: Sequence[str],
    ncols: int = 8,
) -> Figure:
    """Show images in a grid with one caption above each (e.g. the worst-classified images).

    Accepts PIL images and arrays shaped (H, W), (H, W, C) or (C, H, W) with C in 1/3/4;
    integer arrays are read as 0..255 and float arrays as 0..1 (values outside are clipped).
    Single-channel images are drawn with a gray colour map. An empty list gives a figure
    that says so.

    Example:
        >>> imgs = [np.zeros((32, 32), np.uint8), np.ones((32, 32, 3))]
        >>> fig = plot_image_grid(imgs, ["true cat / pred dog", "true dog / pred cat"], ncols=2)
    """
    if ncols < 1:
        raise ConfigError(f"ncols must be at least 1, got {ncols}.")
    if len(images) != len(captions):
        raise DataError(f"got {len(images)} images but {len(captions)} captions; pass one caption per image.")
    if not images:
        fig = Figure(figsize=(4.0, 1.5), layout="constrained")
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "No images to show", ha="center", va="center")
        ax.set_axis_off()
        return fig

    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    width = int(_CELL_INCHES * 72 / (_CHAR_WIDTH * _CAPTION_POINTS))
    wrapped = [wrap_caption(caption, width) for caption in captions]
    lines = max(text.count("\n") + 1 for text in wrapped)
    row_inches = _CELL_INCHES + lines * _CAPTION_POINTS * 1.35 / 72
    fig = Figure(figsize=(_CELL_INCHES * ncols, row_inches * nrows), layout="constrained")
    for index, (image, caption) in enumerate(zip(images, wrapped)):
        ax = fig.add_subplot(nrows, ncols, index + 1)
        array = _display_array(image)
        if array.ndim == 2:
            ax.imshow(array, cmap="gray", vmin=0, vmax=255 if array.dtype == np.uint8 else 1.0)
        else:
            ax.imshow(array)
        ax.set_title(_plain(caption), fontsize=_CAPTION_POINTS, linespacing=1.15)
        ax.set_axis_off()
    return fig


def plot_training_curves(history: Sequence[dict[str, float]]) -> Figure:
    """Loss and accuracy per epoch, train and val, side by side (epochs numbered from 1).

    ``history`` holds one record per epoch, e.g. ``{"epoch": 1, "train_loss": 0.9, "val_acc": 0.7}``;
    missing values are left out of their curve.

    Example:
        >>> fig = plot_training_curves([{"epoch": 1, "train_loss": 1.0, "val_loss": 0.8},
        ...                             {"epoch": 2, "train_loss": 0.6, "val_loss": 0.7}])
    """
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    for col, (metric, label) in enumerate((("loss", "Loss"), ("acc", "Accuracy"))):
        ax = fig.add_subplot(1, 2, col + 1)
        for split, style in (("train", "-o"), ("val", "-s")):
            points = [(r["epoch"], r[f"{split}_{metric}"]) for r in history if f"{split}_{metric}" in r]
            if points:
                epochs, values = zip(*points)
                ax.plot(epochs, values, style, markersize=3, label=split)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{label} per epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    return fig


def wrap_caption(caption: str, width: int) -> str:
    """Break a caption into lines of at most ``width`` characters, for image grids.

    ``"A -> B (0.35)"`` puts the prediction on its own line; long class names break after an
    underscore (or a space) rather than mid-word, and only a word longer than a line is cut.

    Example:
        >>> print(wrap_caption("Pepper__bell___Bacterial_spot -> Potato___healthy (0.35)", 24))
        Pepper__bell___
        Bacterial_spot
        -> Potato___healthy
        (0.35)
    """
    lines: list[str] = []
    for part in caption.replace(" -> ", "\n-> ").split("\n"):
        line = ""
        for token in re.split(r"(?<=[_ ])(?=[^_ ])", part):
            while len(token) > width:  # a single word longer than the line
                if line:
                    lines.append(line.rstrip())
                    line = ""
                lines.append(token[:width])
                token = token[width:]
            if line and len(line) + len(token) > width:
                lines.append(line.rstrip())
                line = ""
            line += token
        lines.append(line.rstrip())
    return "\n".join(lines)


def _draw_reliability(top: Axes, bottom: Axes, bins: dict, ece: float | None, title: str) -> None:
    """Draw one reliability panel (``top``) and its confidence histogram (``bottom``)."""
    lower = np.asarray(bins["bin_lower"], dtype=np.float64)
    width = np.asarray(bins["bin_upper"], dtype=np.float64) - lower
    accuracy = np.asarray(bins["accuracy"], dtype=np.float64)
    confidence = np.asarray(bins["confidence"], dtype=np.float64)
    count = np.asarray(bins["count"], dtype=np.int64)
    filled = count > 0

    top.plot([0, 1], [0, 1], linestyle="--", color="0.4", linewidth=1, label="Perfect calibration")
    top.bar(lower[filled], accuracy[filled], width=width[filled], align="edge",
            color="tab:blue", edgecolor="black", linewidth=0.5, label="Accuracy")
    top.bar(lower[filled], (confidence - accuracy)[filled], bottom=accuracy[filled], width=width[filled],
            align="edge", color="tab:red", alpha=0.3, edgecolor="tab:red", hatch="//", label="Gap")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("Accuracy")
    top.set_title(title if ece is None else f"{title}\nECE = {ece:.4f}")
    top.legend(loc="upper left", fontsize=8)
    top.tick_params(labelbottom=False)

    bottom.bar(lower, count, width=width, align="edge", color="0.6", edgecolor="black", linewidth=0.5)
    bottom.set_xlabel("Confidence")
    bottom.set_ylabel("Count")


def _display_array(image: np.ndarray | Image.Image) -> np.ndarray:
    """Turn an image into an (H, W) or (H, W, C) array of uint8 or floats in [0, 1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L" if image.mode in ("1", "L", "LA") else "RGB"))
    array = np.asarray(image)
    if array.dtype == np.bool_:
        array = array.astype(np.float64)
    if array.ndim == 3 and array.shape[-1] not in (1, 3, 4) and array.shape[0] in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise DataError(
            f"cannot show an image array of shape {array.shape}; "
            "expected (H, W), (H, W, C) or (C, H, W)."
        )
    if np.issubdtype(array.dtype, np.floating):
        return np.clip(array, 0.0, 1.0)
    return np.clip(array, 0, 255).astype(np.uint8)


def _plain(text: str) -> str:
    """Escape ``$`` so matplotlib shows user text literally instead of parsing it as maths."""
    return text.replace("$", r"\$")
