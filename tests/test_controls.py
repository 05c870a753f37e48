"""The plain helpers behind the Interpolate, Sample, Arithmetic and Sliders pages."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import controls
from explorer.data import Dataset


# --- typed indices ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("3, 17, 42", [3, 17, 42]),
    ("3 17;42", [3, 17, 42]),
    ("  5,,6 , ", [5, 6]),
    ("9, 9", [9, 9]),  # repeats are kept: a path may revisit a point
    ("+7", [7]),
])
def test_parse_indices_keeps_the_typed_order(text, expected):
    assert controls.parse_indices(text, 100) == expected


@pytest.mark.parametrize("text, message", [
    ("", "type one or more dataset indices"),
    ("3, x", "'x' is not a whole number"),
    ("1.5", "'1.5' is not a whole number"),
    ("-1", "numbered 0 to 99"),
    ("100", "there is no image 100"),
])
def test_parse_indices_explains_bad_input(text, message):
    with pytest.raises(ValueError, match=message):
        controls.parse_indices(text, 100)


def test_parse_indices_asks_for_enough_points():
    with pytest.raises(ValueError, match="at least 2 dataset indices"):
        controls.parse_indices("4", 10, at_least=2)
    assert controls.parse_indices("4, 5", 10, at_least=2) == [4, 5]


def test_index_caption_names_the_class_when_there_are_labels():
    x = np.zeros((3, 1, 2, 2), dtype=np.float32)
    labelled = Dataset("toy", x, np.array([0, 1, 1]), ["cat", "dog"])
    unlabelled = Dataset("toy", x, None, [])
    assert controls.index_caption(labelled, 2) == "#2 · dog"
    assert controls.index_caption(unlabelled, 2) == "#2"


# --- spacing of codes ------------------------------------------------------------------------
def test_typical_neighbour_distance_is_the_median_gap_to_the_nearest_other_code():
    codes = np.array([[0.0], [1.0], [3.0], [7.0]])  # nearest gaps: 1, 1, 2, 4
    assert controls.typical_neighbour_distance(codes) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="at least two codes"):
        controls.typical_neighbour_distance(np.zeros((1, 3)))


# --- slider bounds ---------------------------------------------------------------------------
@pytest.mark.parametrize("width, step", [(6.0, 0.1), (1.0, 0.01), (0.3, 0.005), (40.0, 0.5), (0.02, 0.0002)])
def test_nice_step_cuts_a_range_into_about_a_hundred_round_steps(width, step):
    assert controls.nice_step(width) == pytest.approx(step)


def test_slider_bounds_round_outwards_to_whole_steps():
    bounds = controls.slider_bounds([[-3.0, 3.0], [-0.123, 0.456], [2.0, 2.0]])
    low, high, step = bounds.T
    assert bounds[0].tolist() == [-3.0, 3.0, 0.1]
    assert low[1] <= -0.123 and high[1] >= 0.456 and step[1] == pytest.approx(0.01)
    assert (low[1], high[1]) == (pytest.approx(-0.13), pytest.approx(0.46))
    # a dimension that never moves still gets a slider with low < high around its value
    assert low[2] < 2.0 < high[2]


@pytest.mark.parametrize("ranges", [[[1.0, 0.0]], [[0.0, np.nan]], [0.0, 1.0]])
def test_slider_bounds_reject_bad_ranges(ranges):
    with pytest.raises(ValueError):
        controls.slider_bounds(ranges)


def test_slider_start_clips_into_the_bounds_and_says_which():
    bounds = controls.slider_bounds([[-1.0, 1.0], [-1.0, 1.0], [-1.0, 1.0]])
    start, clipped = controls.slider_start([0.5, 4.0, -9.0], bounds)
    assert start.tolist() == [0.5, 1.0, -1.0]
    assert clipped.tolist() == [False, True, True]
    with pytest.raises(ValueError, match="3 sliders"):
        controls.slider_start([0.0, 0.0], bounds)


def test_evenly_spaced_runs_from_the_first_to_the_last():
    spread = controls.evenly_spaced(list(range(70)), 64)
    assert len(spread) == 64 and spread[0] == 0 and spread[-1] == 69
    assert controls.evenly_spaced([5, 6], 64) == [5, 6] and controls.evenly_spaced([], 3) == []
    assert controls.evenly_spaced(list(range(10)), 3) == [0, 4, 9]  # 4.5 rounds to even


def test_slider_decimals_are_one_finer_than_the_step():
    assert [controls.slider_decimals(s) for s in (1.0, 0.5, 0.05, 0.002, 20.0)] == [1, 2, 3, 4, 1]
