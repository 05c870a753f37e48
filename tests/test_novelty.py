"""How typical a code is among the training codes, on constructed codes whose answers are known."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import novelty


def cloud(n: int, seed: int, dim: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim))


@pytest.fixture(scope="module")
def reference() -> novelty.Reference:
    """Training and test codes from the same unit Gaussian; test errors spread evenly over 0.01 .. 0.02."""
    codes = np.concatenate([cloud(2000, 0), cloud(1000, 1)])
    errors = np.concatenate([np.full(2000, 0.015), np.linspace(0.01, 0.02, 1000)])
    return novelty.reference_from(codes, errors, np.arange(2000), np.arange(2000, 3000))


def test_knn_distances_is_the_mean_distance_to_the_k_nearest():
    reference = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [10.0, 10.0]])
    assert novelty.knn_distances(np.array([0.0, 0.0]), reference, k=1) == pytest.approx([0.0])
    assert novelty.knn_distances(np.array([0.0, 0.0]), reference, k=3) == pytest.approx([(0 + 1 + 3) / 3])
    # more neighbours asked for than there are: all of them
    far = np.array([[0.0, 0.0]])
    assert novelty.knn_distances(far, reference[:2], k=10) == pytest.approx([0.5])


def test_knn_distances_in_blocks_match_one_by_one():
    codes, reference = cloud(1200, 2), cloud(300, 3)
    together = novelty.knn_distances(codes, reference, k=5)
    one_by_one = [novelty.knn_distances(c, reference, k=5)[0] for c in codes[::97]]
    assert together[::97] == pytest.approx(one_by_one)


def test_reference_is_calibrated_on_the_test_split_only(reference):
    assert reference.train_codes.shape == (2000, 4)
    assert reference.test_distances.shape == reference.test_errors.shape == (1000,)
    assert reference.test_errors.min() == pytest.approx(0.01)  # the training errors (0.015 each) are not in it


def test_a_code_amid_the_training_codes_is_typical(reference):
    verdict = novelty.judge(reference, np.zeros(4), error=0.012)
    assert verdict.label == "typical" and not verdict.flagged
    assert verdict.distance_percentile < 50 and verdict.error_percentile == pytest.approx(20, abs=0.2)


def test_a_code_far_from_every_training_code_is_unlike_the_training_data_even_when_it_reconstructs_well(reference):
    # The defect: a near-empty picture reconstructs with a low error; its code gives it away.
    verdict = novelty.judge(reference, np.full(4, 6.0), error=0.0101)
    assert verdict.error_percentile <= 1
    assert verdict.distance_percentile == 100.0
    assert verdict.label == "unlike the training data" and verdict.flagged


def test_a_typical_code_that_reconstructs_worse_than_any_test_image_is_unlike_the_training_data(reference):
    verdict = novelty.judge(reference, np.zeros(4), error=0.05)
    assert verdict.distance_percentile < 50 and verdict.error_percentile == 100.0
    assert verdict.label == "unlike the training data"


def test_a_code_on_the_fringe_is_unusual(reference):
    fringe = np.quantile(reference.test_distances, 0.97)
    # walk out from the centre until the mean distance to the nearest codes reaches the fringe
    for radius in np.linspace(0, 6, 601):
        code = np.array([radius, 0, 0, 0])
        if novelty.knn_distances(code, reference.train_codes)[0] >= fringe:
            break
    verdict = novelty.judge(reference, code, error=0.012)
    assert novelty.UNUSUAL <= verdict.distance_percentile < novelty.UNLIKE
    assert verdict.label == "unusual"


def test_explanation_says_the_verdict_and_both_numbers(reference):
    verdict = novelty.judge(reference, np.full(4, 6.0), error=0.0101)
    text = verdict.explanation()
    assert text.startswith("**Unlike the training data**")
    assert f"{verdict.distance_percentile:.1f}%" in text and f"{verdict.error_percentile:.1f}%" in text
