"""Dataset indices as the pages handle them: typed, captioned, picked evenly."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import indices
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
    assert indices.parse_indices(text, 100) == expected


@pytest.mark.parametrize("text, message", [
    ("", "type one or more dataset indices"),
    ("3, x", "'x' is not a whole number"),
    ("1.5", "'1.5' is not a whole number"),
    ("-1", "numbered 0 to 99"),
    ("100", "there is no image 100"),
])
def test_parse_indices_explains_bad_input(text, message):
    with pytest.raises(ValueError, match=message):
        indices.parse_indices(text, 100)


def test_parse_indices_asks_for_enough_points():
    with pytest.raises(ValueError, match="at least 2 dataset indices"):
        indices.parse_indices("4", 10, at_least=2)
    assert indices.parse_indices("4, 5", 10, at_least=2) == [4, 5]


def test_index_caption_names_the_class_when_there_are_labels():
    x = np.zeros((3, 1, 2, 2), dtype=np.float32)
    labelled = Dataset("toy", x, np.array([0, 1, 1]), ["cat", "dog"])
    unlabelled = Dataset("toy", x, None, [])
    assert indices.index_caption(labelled, 2) == "#2 · dog"
    assert indices.index_caption(unlabelled, 2) == "#2"


def test_evenly_spaced_runs_from_the_first_to_the_last():
    spread = indices.evenly_spaced(list(range(70)), 64)
    assert len(spread) == 64 and spread[0] == 0 and spread[-1] == 69
    assert indices.evenly_spaced([5, 6], 64) == [5, 6] and indices.evenly_spaced([], 3) == []
    assert indices.evenly_spaced(list(range(10)), 3) == [0, 4, 9]  # 4.5 rounds to even
