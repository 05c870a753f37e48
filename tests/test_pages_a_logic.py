"""The plain functions behind the Map, Upload, Anomaly and Compare pages."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import compare, mapping, metrics
from explorer.backend import DatasetCodes, InferenceEngine
from explorer.checkpoint import load
from explorer.shipped import SHIPPED_DIR


@pytest.fixture(scope="module")
def engines():
    return [InferenceEngine(load(SHIPPED_DIR / name), device="cpu") for name in ("mnist-ae", "mnist-conv-ae")]


# --- metrics ---------------------------------------------------------------------------------
def test_error_percentile_is_share_at_or_below():
    errors = np.array([0.1, 0.2, 0.3, 0.4])
    assert metrics.error_percentile(errors, 0.25) == 50.0
    assert metrics.error_percentile(errors, 0.4) == 100.0
    assert metrics.error_percentile(errors, 0.0) == 0.0


def test_flag_above_sorts_worst_first():
    report = metrics.flag_above(np.array([0.5, 0.1, 0.9, 0.3, 0.7]), 0.4)
    assert report.flagged.tolist() == [2, 4, 0]
    assert (report.count, report.total) == (3, 5)
    assert report.share == pytest.approx(0.6)
    assert metrics.flag_above(np.array([0.1, 0.2]), 0.5).count == 0


def test_anomaly_report_beats_chance_on_an_unseen_pattern():
    rng = np.random.default_rng(0)
    basis = rng.random((2, 1, 6, 6)).astype(np.float32)

    def images(label: int, n: int) -> np.ndarray:
        if label == 0:  # normal: mixtures of the two basis images
            return (rng.random((n, 2, 1, 1, 1)) * basis).sum(1).astype(np.float32) / 2
        return rng.random((n, 1, 6, 6)).astype(np.float32)  # anomalous: noise PCA cannot express

    x_train = np.concatenate([images(0, 200), images(1, 50)])
    y_train = np.array([0] * 200 + [1] * 50)
    x_test = np.concatenate([images(0, 40), images(1, 10)])
    y_test = np.array([0] * 40 + [1] * 10)
    model_errors = np.r_[np.full(40, 0.01), np.full(10, 0.05)]
    x_normal = x_train[y_train != 1]
    report = metrics.anomaly_report(model_errors, x_test, y_test, x_normal, anomaly_class=1, latent_dim=2)
    assert report.is_anomaly.tolist() == y_test.tolist()
    assert report.model["auc"] == 1.0
    assert report.pca["auc"] > 0.9  # fitted without class 1, PCA reconstructs only the normal pattern
    with pytest.raises(ValueError, match="class 7"):
        metrics.anomaly_report(model_errors, x_test, y_test, x_normal, anomaly_class=7, latent_dim=2)


def test_the_training_split_without_a_class(digits):
    """One rule for what a model trained without class k saw: training, evaluation and the
    Anomaly page's PCA baseline all take it from Dataset.train_indices."""
    kept = digits.train_indices(exclude_class=3)
    assert set(kept) < set(digits.train_idx) and 3 not in set(digits.y[kept])
    assert len(kept) == int((digits.y[digits.train_idx] != 3).sum())
    assert digits.train_indices() is digits.train_idx


# --- compare ---------------------------------------------------------------------------------
def test_random_indices_are_seeded_distinct_and_from_the_pool():
    pool = np.arange(100, 200)
    a = compare.random_indices(pool, 8, seed=3)
    assert a.tolist() == compare.random_indices(pool, 8, seed=3).tolist()
    assert a.tolist() != compare.random_indices(pool, 8, seed=4).tolist()
    assert len(set(a.tolist())) == 8 and set(a.tolist()) <= set(pool.tolist())
    assert len(compare.random_indices(pool[:3], 8, seed=0)) == 3


def test_add_noise_is_seeded_and_clipped():
    x = np.full((2, 1, 4, 4), 0.5, dtype=np.float32)
    assert compare.add_noise(x, 0.0, 0) is x
    noisy = compare.add_noise(x, 0.8, seed=1)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not np.allclose(noisy, x)
    assert np.array_equal(noisy, compare.add_noise(x, 0.8, seed=1))


def test_compare_scores_against_clean_originals_and_skips_misfits(engines, mnist, digits):
    x = mnist.x[mnist.test_idx[:4]]
    fitted = {}

    def pca_for(k):
        fitted[k] = fitted.get(k) or metrics.PCABaseline(k, mnist.x[mnist.train_idx[:500]])
        return fitted[k]

    clean = compare.compare(x, engines + engines[:1], pca_for)  # a repeat is shown once
    assert [row.name for row in clean.rows] == ["mnist-ae", "mnist-conv-ae", "PCA (k=16)"]
    assert all(row.reconstructions.shape == x.shape and row.mse.shape == (4,) for row in clean.rows)
    assert np.array_equal(clean.inputs, x) and not clean.skipped
    noisy = compare.compare(x, engines, pca_for, noise_level=0.5, seed=0)
    assert not np.allclose(noisy.inputs, x)
    for before, after in zip(clean.rows, noisy.rows):
        assert after.mse.mean() > before.mse.mean()  # scored against the clean images, not the noisy inputs
    misfit = compare.compare(digits.x[:2], engines, pca_for)
    assert misfit.rows == [] and len(misfit.skipped) == 2 and "[1, 28, 28]" in misfit.skipped[0]
    table = compare.per_image_scores(clean, ["a", "b", "c", "d"])
    assert len(table) == 12 and table[0]["model"] == "mnist-ae" and table[0]["image"] == "a"


def test_recorded_metrics_reads_the_training_record(engines):
    rows = compare.recorded_metrics(engines)
    assert [r["checkpoint"] for r in rows] == ["mnist-ae", "mnist-conv-ae"]
    assert rows[0]["test_mse"] == engines[0].source.training.test_mse
    assert set(compare.RECORDED_METRICS) <= set(rows[0])


# --- mapping ---------------------------------------------------------------------------------
def test_map_table_has_one_row_per_image_with_code_columns():
    codes = DatasetCodes(np.arange(30, dtype=np.float32).reshape(3, 10), None, np.array([0.1, 0.2, 0.3]))
    table = mapping.map_table(np.zeros((3, 2)), codes, ["a", "b", "c"])
    assert list(table.columns[:5]) == ["index", "x", "y", "label", "error"]
    assert list(table.columns[5:]) == [f"z{i}" for i in range(10)]
    assert table["z9"].tolist() == [9.0, 19.0, 29.0]


def test_manifold_positions_cover_the_points_row_by_row_from_the_top():
    coords = np.array([[0.0, 0.0], [10.0, 4.0], [5.0, 2.0]])
    grid = mapping.manifold_positions(coords, 3, trim=0.0)
    assert grid.shape == (9, 2)
    assert grid[0].tolist() == [0.0, 4.0] and grid[2].tolist() == [10.0, 4.0] and grid[-1].tolist() == [10.0, 0.0]


def test_nearest_neighbours_sorted_by_distance():
    codes = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    idx, dist = mapping.nearest_neighbours(codes, np.array([0.0, 0.0]), 2)
    assert idx.tolist() == [0, 2] and dist.tolist() == [0.0, 1.0]


def test_indices_from_points_reads_customdata_and_ignores_other_traces():
    points = [{"customdata": [5]}, {"customdata": 2}, {"customdata": [5]}, {"x": 1.0}, {"customdata": []}]
    assert mapping.indices_from_points(points) == [2, 5]
