"""The overlays' colour bar: the overlay colour map from low (left) to high (right)."""
from __future__ import annotations

import numpy as np
import pytest

from ferviz.errors import ExportError
from ferviz.figures.overlay import colorbar_rgb, colormap_lut, overlay


def test_colour_bar_runs_the_overlay_colour_map_left_to_right():
    bar = colorbar_rgb(300, 10)
    assert bar.shape == (10, 300, 3) and bar.dtype == np.uint8
    lut = colormap_lut()
    np.testing.assert_array_equal(bar[0, 0], lut[0])
    np.testing.assert_array_equal(bar[-1, -1], lut[255])
    assert (bar == bar[:1]).all()  # every row the same
    # the colour at a map's highest pixel is the bar's right end (opacity 1: the colour itself)
    m = np.zeros((4, 4), np.float32)
    m[1, 2] = 1.0
    np.testing.assert_array_equal(overlay(np.zeros((4, 4), np.uint8), m, alpha=1.0)[1, 2], bar[0, -1])
    with pytest.raises(ExportError):
        colorbar_rgb(1, 10)
