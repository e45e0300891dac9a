"""Harmonic inpainting: hidden pixels become the mean of their neighbours; an anchor keeps it solvable."""

from __future__ import annotations

import numpy as np

from sightkit.core.inpaint import harmonic_fill


def test_a_hidden_column_between_two_values_is_their_mean():
    image = np.zeros((3, 3, 2))
    image[:, 2] = 2.0
    hidden = np.zeros((3, 3), bool)
    hidden[:, 1] = True
    filled = harmonic_fill(image, hidden)
    assert np.allclose(filled[:, 1], 1.0) and np.array_equal(filled[~hidden], image[~hidden])


def test_each_filled_pixel_is_the_mean_of_its_neighbours():
    rng = np.random.default_rng(0)
    image = rng.random((12, 10, 3))
    hidden = np.zeros((12, 10), bool)
    hidden[3:9, 2:7] = True
    filled = harmonic_fill(image, hidden)
    y, x = 5, 4
    neighbours = filled[[y - 1, y + 1, y, y], [x, x, x - 1, x + 1]].mean(axis=0)
    assert np.allclose(filled[y, x], neighbours)


def test_with_everything_hidden_the_anchor_is_returned():
    image = np.ones((4, 4, 1))
    anchor = np.full((4, 4, 1), 0.25)
    assert np.allclose(harmonic_fill(image, np.ones((4, 4), bool), anchor, 1e-3), 0.25)
