"""Resolution-matched enrollment: each enrolled face is also described at a ladder of low resolutions.

A 16 px face cannot be sharpened back into the photo it came from, but the sharp
enrollment photo can be shrunk to 16 px. Comparing a tiny probe with enrollment photos
degraded the same way (downscaled with antialiasing, then run through the very same
upscale-detect-align-embed path) removes the systematic shift that low resolution puts
into the descriptor. Levels are eye distances in px, a factor sqrt(2) apart; a probe is
compared at the level nearest its own eye distance, or at full resolution above the ladder.

At a few pixels between the eyes, where exactly the face falls on the pixel grid and how
its size rounds change the descriptor as much as identity does. Each level therefore holds
several views (:data:`~sightkit.tasks.face.jitter.JITTERS`: the face slightly larger or
smaller, or shifted by a fraction of a low-resolution pixel), and a probe is matched with
the nearest of them.

Each view is made the way a probe of that size arrives: the photo around the face is
shrunk, and the view goes through the same detection and alignment as a probe photo with
the same options (for a whole photo, with its background; for a crop, the crop).

Example:
    >>> level_for(5.1), level_for(40.0)
    (5.7, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from PIL import Image

from sightkit.tasks.face.jitter import JITTERS, nearest, surroundings
from sightkit.tasks.face.pipeline import Face, FaceOptions, find_faces

# Eye distances (px) of the synthetic low-resolution views. 4 px is a face about 12 px wide;
# above ~27 px (22.6 * 2**0.25) the full-resolution descriptor is used.
LEVELS: tuple[float, ...] = (4.0, 5.7, 8.0, 11.3, 16.0, 22.6)
NATIVE = 0.0
_HALF_STEP = 2 ** 0.25



def level_for(eye_distance_px: float) -> float:
    """The ladder level a face of this eye distance is compared at (``0.0`` = full resolution)."""
    if eye_distance_px > LEVELS[-1] * _HALF_STEP:
        return NATIVE
    return min(LEVELS, key=lambda level: abs(math.log(max(eye_distance_px, 1e-3) / level)))


def synthetic_views(rgb: np.ndarray, face: Face, options: FaceOptions) -> list[tuple[float, Face]]:
    """``(level, face)`` views for each ladder level (no descriptors yet), :data:`JITTERS` per level.

    The photo around the face (up to :data:`~sightkit.tasks.face.jitter.SURROUNDINGS` face boxes each way, so a whole
    photo keeps its background) is shifted and shrunk (bicubic, antialiased) so that the
    face's eye distance equals the level times the jitter's size factor, and described
    exactly as a probe photo of that size would be, with the same options; a view in which
    the face is not found again is left out. Levels at or above the face's own resolution,
    and levels at which no view was found, hold the face itself, once.
    """
    region, offset = surroundings(rgb, face.box.left, face.box.top, face.box.right, face.box.bottom)
    centre = np.array([(face.box.left + face.box.right) / 2, (face.box.top + face.box.bottom) / 2]) - offset
    view_options = replace(options, probe_jitter=False)
    views: list[tuple[float, Face]] = []
    for level in LEVELS:
        if level * _HALF_STEP >= face.size_px:
            views.append((level, face))
            continue
        found_any = False
        for shift_x, shift_y, size in JITTERS:
            scale = level * size / face.size_px
            shifted = np.roll(region, (round(shift_y / scale), round(shift_x / scale)), axis=(0, 1))
            small = Image.fromarray(shifted).resize((max(2, round(region.shape[1] * scale)),
                                                     max(2, round(region.shape[0] * scale))), Image.Resampling.BICUBIC)
            found = nearest(find_faces(np.asarray(small), view_options), centre * scale, face.box.width * scale)
            if found is not None:
                views.append((level, found))
                found_any = True
        if not found_any:  # too small to be found again: every level still holds the person
            views.append((level, face))
    return views
