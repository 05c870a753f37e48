"""Slider bounds for latent dimensions (the Sliders page)."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import slider_bounds


@pytest.mark.parametrize("width, step", [(6.0, 0.1), (1.0, 0.01), (0.3, 0.005), (40.0, 0.5), (0.02, 0.0002)])
def test_nice_step_cuts_a_range_into_about_a_hundred_round_steps(width, step):
    assert slider_bounds.nice_step(width) == pytest.approx(step)


def test_slider_bounds_round_outwards_to_whole_steps():
    bounds = slider_bounds.slider_bounds([[-3.0, 3.0], [-0.123, 0.456], [2.0, 2.0]])
    low, high, step = bounds.T
    assert bounds[0].tolist() == [-3.0, 3.0, 0.1]
    assert low[1] <= -0.123 and high[1] >= 0.456 and step[1] == pytest.approx(0.01)
    assert (low[1], high[1]) == (pytest.approx(-0.13), pytest.approx(0.46))
    # a dimension that never moves still gets a slider with low < high around its value
    assert low[2] < 2.0 < high[2]


@pytest.mark.parametrize("ranges", [[[1.0, 0.0]], [[0.0, np.nan]], [0.0, 1.0]])
def test_slider_bounds_reject_bad_ranges(ranges):
    with pytest.raises(ValueError):
        slider_bounds.slider_bounds(ranges)


def test_slider_start_clips_into_the_bounds_and_says_which():
    bounds = slider_bounds.slider_bounds([[-1.0, 1.0], [-1.0, 1.0], [-1.0, 1.0]])
    start, clipped = slider_bounds.slider_start([0.5, 4.0, -9.0], bounds)
    assert start.tolist() == [0.5, 1.0, -1.0]
    assert clipped.tolist() == [False, True, True]
    with pytest.raises(ValueError, match="3 sliders"):
        slider_bounds.slider_start([0.0, 0.0], bounds)


def test_slider_decimals_are_one_finer_than_the_step():
    assert [slider_bounds.slider_decimals(s) for s in (1.0, 0.5, 0.05, 0.002, 20.0)] == [1, 2, 3, 4, 1]
