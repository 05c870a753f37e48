"""Representation quality and map fidelity on constructed cases, where the answer is known."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sklearn_trustworthiness

from explorer import quality

CLASSES = 10


def labelled(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(n) % CLASSES)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(CLASSES)[labels]


@pytest.fixture(scope="module")
def splits():
    return labelled(1000, 0), labelled(300, 1)


def test_one_hot_codes_are_perfect_on_every_figure(splits):
    train_y, test_y = splits
    result = quality.representation_quality(one_hot(train_y), train_y, one_hot(test_y), test_y)
    assert result.knn_accuracy == 1.0
    assert result.probe_10 == result.probe_100 == result.probe_all == 1.0
    assert result.nmi == pytest.approx(1.0) and result.ari == pytest.approx(1.0)


def test_random_codes_score_chance(splits):
    train_y, test_y = splits
    rng = np.random.default_rng(2)
    result = quality.representation_quality(rng.normal(size=(1000, 8)), train_y, rng.normal(size=(300, 8)), test_y)
    for accuracy in (result.knn_accuracy, result.probe_10, result.probe_100, result.probe_all):
        assert abs(accuracy - 1 / CLASSES) < 0.08
    assert result.nmi < 0.1 and abs(result.ari) < 0.05


def test_few_labels_use_that_many_per_class_reproducibly():
    labels = labelled(500)
    picked = quality.labelled_subset(labels, 10, seed=3)
    assert len(picked) == 10 * CLASSES and (np.bincount(labels[picked]) == 10).all()
    assert np.array_equal(picked, quality.labelled_subset(labels, 10, seed=3))
    assert not np.array_equal(picked, quality.labelled_subset(labels, 10, seed=4))
    assert len(quality.labelled_subset(labels, None, 0)) == 500


def test_few_labels_hurt_a_noisy_code_more_than_many():
    rng = np.random.default_rng(0)
    train_y, test_y = labelled(2000, 0), labelled(500, 1)
    centres = rng.normal(size=(CLASSES, 20))

    def codes(y):
        return centres[y] + 1.5 * rng.normal(size=(len(y), 20))

    train, test = codes(train_y), codes(test_y)
    few = quality.probe_accuracy(train, train_y, test, test_y, per_class=10)
    every = quality.probe_accuracy(train, train_y, test, test_y, per_class=None)
    assert 0.2 < few < every


def test_pca_and_pixel_baselines_are_cached_per_dataset(digits):
    pixels = quality.pixel_quality(digits)
    assert pixels.knn_accuracy > 0.9  # 8x8 digits are easy for 5-NN on raw pixels
    assert quality.pixel_quality(digits) == pixels  # the second call reads the cache
    small, large = quality.pca_quality(digits, 2), quality.pca_quality(digits, 16)
    assert small.knn_accuracy < large.knn_accuracy
    codes = np.random.default_rng(0).normal(size=(len(digits.x), 4))
    assert quality.model_quality("hash-a", digits, codes).knn_accuracy < 0.3


def test_identity_map_is_perfectly_faithful():
    points = np.random.default_rng(0).normal(size=(400, 2))
    fidelity = quality.map_fidelity(points, points.copy())
    assert fidelity.trustworthiness == pytest.approx(1.0)
    assert fidelity.continuity == pytest.approx(1.0)
    assert fidelity.recall == 1.0 and (fidelity.recall_per_point == 1.0).all()


def test_trustworthiness_agrees_with_scikit_learn():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(300, 12))
    flat = codes[:, :2] + 0.3 * rng.normal(size=(300, 2))
    assert quality.trustworthiness(codes, flat, 10) == pytest.approx(
        sklearn_trustworthiness(codes, flat, n_neighbors=10), abs=1e-9)
    # continuity is trustworthiness with the two spaces swapped
    assert quality.map_fidelity(codes, flat).continuity == pytest.approx(
        sklearn_trustworthiness(flat, codes, n_neighbors=10), abs=1e-9)


def test_a_shuffled_map_keeps_no_neighbourhoods():
    rng = np.random.default_rng(2)
    codes = rng.normal(size=(500, 2))
    fidelity = quality.map_fidelity(codes, rng.permutation(codes))
    assert fidelity.recall < 0.1 and fidelity.trustworthiness < 0.6 and fidelity.continuity < 0.6


def test_a_torn_map_shows_where_it_tears():
    # a circle cut open and laid flat: neighbours across the cut are torn apart, nowhere else
    angle = np.linspace(0, 2 * np.pi, 600, endpoint=False)
    circle = np.column_stack([np.cos(angle), np.sin(angle)])
    flat = np.column_stack([angle, np.zeros_like(angle)])
    fidelity = quality.map_fidelity(circle, flat)
    index = np.arange(len(angle))
    near_cut = (index < 5) | (index >= len(angle) - 5)  # 10 neighbours reach 5 steps each way
    assert fidelity.recall_per_point[near_cut].max() < 1.0
    assert (fidelity.recall_per_point[~near_cut] == 1.0).all()
    assert fidelity.trustworthiness > 0.99 and fidelity.continuity < fidelity.trustworthiness


def test_fidelity_sample_is_fixed_and_bounded():
    sample = quality.fidelity_sample(20000, 5000, seed=0)
    assert len(sample) == 5000 and len(set(sample)) == 5000 and np.all(np.diff(sample) > 0)
    assert np.array_equal(sample, quality.fidelity_sample(20000, 5000, seed=0))
    assert np.array_equal(quality.fidelity_sample(300), np.arange(300))
    fidelity = quality.map_fidelity(np.zeros((50, 3)) + np.arange(50)[:, None], np.arange(100).reshape(50, 2),
                                    sample_size=30)
    assert len(fidelity.sample) == len(fidelity.recall_per_point) == 30


def test_k_must_leave_room():
    points = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="half"):
        quality.trustworthiness(points, points, k=5)


def test_evaluate_prints_each_figure_beside_pca_and_pixels(tmp_path, capsys):
    from explorer.__main__ import main

    out = tmp_path / "tiny"
    assert main(["train", "--model", "ae", "--dataset", "digits", "--epochs", "1", "--latent-dim", "4",
                 "--hidden", "16", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("representation"))
    assert header.split()[-4:] == ["model", "PCA", "4", "pixels"]
    for name in ("kNN accuracy", "linear probe, 10", "linear probe, 100", "linear probe, all", "NMI", "ARI"):
        row = next(line for line in lines if line.startswith(name))
        assert all(-1 <= float(v) <= 1 for v in row.split()[-3:]), row  # ARI may dip below 0


def test_a_large_memory_mapped_dataset_is_measured_on_a_bounded_sample(monkeypatch):
    """PCA and pixel figures of a large uint8 store use a seeded sample and never convert it whole
    (40,000 colour 64x64 shapes made the Compare page fit a full SVD for minutes)."""
    from explorer.data import Dataset, UnitImages

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 12000)
    pixels = (rng.random((12000, 1, 4, 4)) * 60 + y[:, None, None, None] * 60).astype(np.uint8)
    big = Dataset("big", UnitImages(pixels), y, ["a", "b", "c"], content_key="big-uint8")
    monkeypatch.setattr(UnitImages, "__array__", lambda self, dtype=None, copy=None: pytest.fail("converted whole"))
    train, test = quality.quality_splits(big)
    assert len(train) == quality.QUALITY_TRAIN_SIZE and len(test) == quality.QUALITY_TEST_SIZE
    assert set(train) <= set(big.train_idx) and set(test) <= set(big.test_idx)
    assert quality.pixel_quality(big).knn_accuracy > 0.9  # the classes are separable by brightness
    assert quality.pca_quality(big, 2).knn_accuracy > 0.9
