"""Disentanglement metrics on constructed codes: a copy of the factors scores about 1, random
codes about 0, and a rotation of the factors (every dimension mixes every factor) low."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import disentangle

N, K, VALUES = 4000, 4, 10


def factors(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VALUES, size=(N, K))


def copy_codes(f: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each dimension is one factor, scaled, shifted and a little noisy: perfectly disentangled."""
    rng = np.random.default_rng(seed)
    return f * rng.uniform(0.5, 2, K) + rng.normal(0, 0.01, f.shape) + rng.normal(0, 3, K)


def rotated_codes(f: np.ndarray) -> np.ndarray:
    """The standardised factors times a Hadamard rotation: each dimension weighs all alike."""
    hadamard = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2
    return ((f - f.mean(0)) / f.std(0)) @ hadamard


def random_codes(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, K))


def scores(codes_of) -> dict[str, float]:
    fit, held = factors(0), factors(1)
    return disentangle.report(codes_of(fit), fit, codes_of(held), held)


def test_codes_that_copy_the_factors_score_about_one():
    s = scores(copy_codes)
    assert s["mig"] > 0.9
    assert s["dci_disentanglement"] > 0.9 and s["dci_completeness"] > 0.9
    assert s["dci_informativeness"] > 0.95
    assert s["sap"] > 0.9


def test_random_codes_score_about_zero():
    s = scores(lambda f: random_codes(int(f[0, 0]) + 7))
    assert s["mig"] < 0.02
    assert s["dci_disentanglement"] < 0.1 and s["dci_completeness"] < 0.1
    assert s["dci_informativeness"] < 0.15  # chance is 1 in 10
    assert abs(s["sap"]) < 0.03


def test_a_rotation_of_the_factors_is_informative_but_scores_low():
    s = scores(rotated_codes)
    assert s["mig"] < 0.05
    assert s["dci_disentanglement"] < 0.35 and s["dci_completeness"] < 0.35
    assert s["dci_informativeness"] > 0.5  # the information is all there, just mixed
    assert s["sap"] < 0.05


def test_mutual_information_matrix_finds_which_dimension_carries_which_factor():
    f = factors()
    codes = copy_codes(f)[:, [2, 0, 3, 1]]  # dimension d carries factor perm[d]
    mi = disentangle.mutual_information(codes, f)
    assert mi.shape == (K, K)
    assert list(mi.argmax(1)) == [2, 0, 3, 1]
    entropies = disentangle.factor_entropies(f)
    assert entropies == pytest.approx(np.full(K, np.log(VALUES)), rel=0.01)
    share = disentangle.normalised_mi(mi, entropies)
    assert share.max(0) == pytest.approx(np.ones(K), abs=0.01)
    elsewhere = np.ones((K, K), dtype=bool)
    elsewhere[np.arange(K), [2, 0, 3, 1]] = False
    assert share[elsewhere].max() < 0.02


def test_each_dimension_is_named_by_the_factor_it_carries_most_of():
    f = factors()
    codes = copy_codes(f)[:, [2, 0, 3, 1]]
    share = disentangle.factor_share(codes, f)
    assert share == pytest.approx(disentangle.normalised_mi(disentangle.mutual_information(codes, f),
                                                            disentangle.factor_entropies(f)))
    names = ["shape", "colour", "scale", "x"]
    assert disentangle.dimension_labels(share, names)[0] == f"scale · MI {share[0, 2]:.2f}"
    assert [label.split(" · ")[0] for label in disentangle.dimension_labels(share, names)] == ["scale", "shape", "x", "colour"]


def test_mig_is_the_normalised_gap_between_the_top_two_dimensions():
    mi = np.array([[0.9, 0.1], [0.3, 0.5], [0.0, 0.45]])
    assert disentangle.mig(mi, np.array([1.0, 2.0])) == pytest.approx(((0.9 - 0.3) / 1 + (0.5 - 0.45) / 2) / 2)
    with pytest.raises(ValueError, match="two code dimensions"):
        disentangle.mig(mi[:1], np.ones(2))


def test_dci_of_known_importance_matrices():
    one_to_one = disentangle.dci(np.eye(3), np.ones(3))
    assert one_to_one.disentanglement == pytest.approx(1, abs=1e-6)
    assert one_to_one.completeness == pytest.approx(1, abs=1e-6)
    uniform = disentangle.dci(np.ones((3, 3)), np.full(3, 0.5))
    assert uniform.disentanglement == pytest.approx(0, abs=1e-6)
    assert uniform.completeness == pytest.approx(0, abs=1e-6)
    assert uniform.informativeness == 0.5
    # one dimension carrying two factors: complete (each factor in one place), not disentangled
    shared = disentangle.dci(np.array([[1.0, 1.0], [0.0, 0.0]]), np.ones(2))
    assert shared.completeness == pytest.approx(1, abs=1e-6)
    assert shared.disentanglement == pytest.approx(0, abs=1e-6)


def test_sap_is_the_gap_between_the_two_best_single_dimension_predictors():
    assert disentangle.sap(np.array([[0.9, 0.2], [0.4, 0.6], [0.1, 0.5]])) == pytest.approx((0.5 + 0.1) / 2)
    f = factors()
    s = disentangle.sap_matrix(copy_codes(f), f, copy_codes(f), f)
    assert np.diag(s) == pytest.approx(np.ones(K), abs=1e-6)
    assert np.abs(s[~np.eye(K, dtype=bool)]).max() < 0.05


def test_a_constant_dimension_carries_nothing():
    f = factors()
    codes = copy_codes(f)
    codes[:, 1] = 0.5  # a collapsed dimension, as a VAE leaves unused ones
    mi = disentangle.mutual_information(codes, f)
    assert mi[1] == pytest.approx(np.zeros(K), abs=1e-12)
    assert disentangle.sap_matrix(codes, f, codes, f)[1] == pytest.approx(np.zeros(K), abs=1e-12)
