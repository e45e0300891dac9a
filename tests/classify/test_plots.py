"""Report figures stay readable: captions of image grids never overlap, training curves draw each split."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from sightkit.tasks.classify.plots import plot_image_grid, plot_training_curves, wrap_caption

LONG = "Pepper__bell___Bacterial_spot -> Potato___healthy (0.35)"


def test_long_captions_of_an_image_grid_do_not_overlap():
    images = [np.full((32, 32, 3), 100 + i, np.uint8) for i in range(16)]
    fig = plot_image_grid(images, [LONG] * 16)
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    figure_box = fig.bbox
    assert all(figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1 for box in boxes)  # none cut at the edges
    image_boxes = [ax.get_window_extent(renderer) for ax in fig.axes]
    assert not any(title.overlaps(image) for title in boxes for image in image_boxes)  # nor reach into images


def test_wrap_caption_keeps_names_whole_when_they_fit():
    assert wrap_caption(LONG, 36).split("\n") == ["Pepper__bell___Bacterial_spot", "-> Potato___healthy (0.35)"]
    assert all(len(line) <= 12 for line in wrap_caption(LONG, 12).split("\n"))
    assert wrap_caption("cat -> dog (0.91)", 36) == "cat\n-> dog (0.91)"


def test_training_curves_have_train_and_val_lines():
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.5 + e / 10, "val_acc": 0.4 + e / 10}
               for e in (1, 2, 3)]
    loss, acc = plot_training_curves(history).axes
    assert [line.get_label() for line in loss.lines] == ["train", "val"]
    assert list(acc.lines[1].get_xdata()) == [1, 2, 3] and acc.lines[1].get_ydata()[0] == 0.5
