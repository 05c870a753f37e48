"""Maps of many codes (projection.project_large): PCA on all, t-SNE / UMAP fitted on a stratified
sample with the rest placed by transform, cached."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import projection


@pytest.fixture(scope="module")
def clusters() -> tuple[np.ndarray, np.ndarray]:
    """3,000 10-d codes in three well-separated clusters of unequal size."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [2000, 900, 100])
    codes = rng.standard_normal((3000, 10)).astype(np.float32) + labels[:, None] * 8.0
    return codes, labels


def test_the_stratified_sample_keeps_each_class_share():
    labels = np.repeat([0, 1, 2], [9000, 990, 10])
    sample = projection.stratified_sample(len(labels), 1000, labels, seed=3)
    assert len(sample) == 1000 and len(np.unique(sample)) == 1000 and np.all(np.diff(sample) > 0)
    assert np.bincount(labels[sample]).tolist() == [900, 99, 1]
    assert projection.stratified_sample(50, 100, labels[:50]).tolist() == list(range(50))


def test_pca_is_fitted_on_every_code(clusters):
    codes, labels = clusters
    large = projection.project_large(codes, "pca", labels=labels, sample_size=100)
    np.testing.assert_allclose(large.coords, projection.project(codes, "pca").coords, atol=1e-6)
    assert len(large.sample) == len(codes) and large.placed == 0


def test_tsne_is_fitted_on_the_sample_and_places_the_rest_in_blocks(clusters):
    codes, labels = clusters
    large = projection.project_large(codes, "tsne", labels=labels, sample_size=600, block=1000)
    assert len(large.sample) == 600 and large.placed == 2400 and not large.from_cache
    assert np.bincount(labels[large.sample]).tolist() == [400, 180, 20]
    # the sample's positions are a plain fit of the sample; the others were placed beside their cluster
    np.testing.assert_allclose(large.coords[large.sample],
                               projection.make_projection("tsne").fit(codes[large.sample]), atol=1e-6)
    rest = np.setdiff1d(np.arange(len(codes)), large.sample)
    fitted = large.coords[large.sample]
    nearest = np.argmin(((large.coords[rest, None] - fitted[None]) ** 2).sum(2), axis=1)
    assert (labels[large.sample][nearest] == labels[rest]).mean() > 0.98
    again = projection.project_large(codes, "tsne", labels=labels, sample_size=600, block=1000)
    assert again.from_cache
    np.testing.assert_array_equal(again.coords, large.coords)
    assert np.isfinite(again.projection.transform(codes[:5])).all()


def test_too_many_codes_are_refused():
    with pytest.raises(ValueError, match="more than the 2,000,000"):
        projection.project_large(np.zeros((projection.MAX_MAP_CODES + 1, 2), np.float32), "pca")
