"""Several checkpoints and PCA on the same images (the Compare page's plain functions)."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import comparison, metrics
from explorer.engine import InferenceEngine
from explorer.checkpoint import load
from explorer.shipped import SHIPPED_DIR


@pytest.fixture(scope="module")
def engines():
    return [InferenceEngine(load(SHIPPED_DIR / name), device="cpu") for name in ("mnist-ae", "mnist-conv-ae")]


def test_random_indices_are_seeded_distinct_and_from_the_pool():
    pool = np.arange(100, 200)
    a = comparison.random_indices(pool, 8, seed=3)
    assert a.tolist() == comparison.random_indices(pool, 8, seed=3).tolist()
    assert a.tolist() != comparison.random_indices(pool, 8, seed=4).tolist()
    assert len(set(a.tolist())) == 8 and set(a.tolist()) <= set(pool.tolist())
    assert len(comparison.random_indices(pool[:3], 8, seed=0)) == 3


def test_add_noise_is_seeded_and_clipped():
    x = np.full((2, 1, 4, 4), 0.5, dtype=np.float32)
    assert comparison.add_noise(x, 0.0, 0) is x
    noisy = comparison.add_noise(x, 0.8, seed=1)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not np.allclose(noisy, x)
    assert np.array_equal(noisy, comparison.add_noise(x, 0.8, seed=1))


def test_compare_scores_against_clean_originals_and_skips_misfits(engines, mnist, digits):
    x = mnist.x[mnist.test_idx[:4]]
    fitted = {}

    def pca_for(k):
        fitted[k] = fitted.get(k) or metrics.PCABaseline(k, mnist.x[mnist.train_idx[:500]])
        return fitted[k]

    clean = comparison.compare(x, engines + engines[:1], pca_for)  # a repeat is shown once
    assert [row.name for row in clean.rows] == ["mnist-ae", "mnist-conv-ae", "PCA (k=16)"]
    assert all(row.reconstructions.shape == x.shape and row.mse.shape == (4,) for row in clean.rows)
    assert np.array_equal(clean.inputs, x) and not clean.skipped
    noisy = comparison.compare(x, engines, pca_for, noise_level=0.5, seed=0)
    assert not np.allclose(noisy.inputs, x)
    for before, after in zip(clean.rows, noisy.rows):
        assert after.mse.mean() > before.mse.mean()  # scored against the clean images, not the noisy inputs
    misfit = comparison.compare(digits.x[:2], engines, pca_for)
    assert misfit.rows == [] and len(misfit.skipped) == 2 and "[1, 28, 28]" in misfit.skipped[0]
    table = comparison.per_image_scores(clean, ["a", "b", "c", "d"])
    assert len(table) == 12 and table[0]["model"] == "mnist-ae" and table[0]["image"] == "a"


def test_recorded_metrics_reads_the_training_record(engines):
    rows = comparison.recorded_metrics(engines)
    assert [r["checkpoint"] for r in rows] == ["mnist-ae", "mnist-conv-ae"]
    assert rows[0]["test_mse"] == engines[0].source.training.test_mse
    assert set(comparison.RECORDED_METRICS) <= set(rows[0])
