"""Numbers in a link are judged by their length and finiteness before anything converts them."""
from __future__ import annotations

import pytest

from explorer.indices import parse_indices
from explorer.ui.link_params import unusable_number, unusable_params


@pytest.mark.parametrize("text, why", [
    ("9" * 5000, "a number of 5,000 characters"),
    ("1e999", "not a finite number"),
    ("-inf", "not a finite number"),
    ("nan", "not a finite number"),
    ("0." + "0" * 30 + "1", "a number of 33 characters"),
])
def test_numbers_no_setting_takes(text, why):
    assert unusable_number(text) == why


@pytest.mark.parametrize("text", ["0", "42", "-3", "0.05", "1e3", "2147483647", "9223372036854775807", "mnist",
                                  "shapes:" + "9" * 5000, "checkpoints/mnist-ae", "", "t-SNE", "1,2,3"])
def test_usable_numbers_and_other_text_are_left_alone(text):
    assert unusable_number(text) is None


def test_every_value_of_a_repeated_parameter_is_checked():
    assert unusable_params({"ckpt": ["mnist-ae", "mnist-vae"], "sample_n": ["3", "1e400"], "data": "mnist"}) == {
        "sample_n": "not a finite number"}


def test_typed_indices_are_judged_by_length_before_int():
    with pytest.raises(ValueError) as info:
        parse_indices("3, " + "9" * 5000, 1000)
    assert str(info.value) == "there is no image 999999999999… (5,000 characters): this dataset's images are numbered 0 to 999"
    assert parse_indices("0003, 17", 1000) == [3, 17]
