import numpy as np
import pytest

from explorer import latent


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --- interpolation ------------------------------------------------------------------------
def test_lerp_endpoints_and_midpoint():
    a, b = np.array([0.0, 2.0, -1.0]), np.array([4.0, 0.0, 1.0])
    out = latent.lerp(a, b, [0, 0.5, 1])
    assert out.shape == (3, 3)
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[2], b)
    np.testing.assert_allclose(out[1], [2.0, 1.0, 0.0])


def test_slerp_exact_endpoints_and_linear_norms(rng):
    a, b = rng.normal(size=8), 3 * rng.normal(size=8)
    t = np.linspace(0, 1, 11)
    out = latent.slerp(a, b, t)
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[-1], b)
    expected_norms = (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), expected_norms, rtol=1e-12)


def test_slerp_follows_the_great_circle():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    mid = latent.slerp(a, b, [0.5])[0]
    np.testing.assert_allclose(mid, [np.sqrt(0.5), np.sqrt(0.5)])  # lerp would give (0.5, 0.5)
    angles = np.arctan2(*latent.slerp(a, b, np.linspace(0, 1, 5))[:, ::-1].T)
    np.testing.assert_allclose(np.diff(angles), np.pi / 8)  # constant angular speed


def test_slerp_near_parallel_matches_lerp(rng):
    a = rng.normal(size=16)
    b = 2 * a + 1e-9 * rng.normal(size=16)
    t = np.linspace(0, 1, 7)
    out = latent.slerp(a, b, t)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, latent.lerp(a, b, t), atol=1e-9)


def test_slerp_opposite_vectors_turn_deterministically(rng):
    a = rng.normal(size=5)
    b = -2 * a
    t = np.linspace(0, 1, 9)
    out = latent.slerp(a, b, t)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, latent.slerp(a, b, t))
    np.testing.assert_allclose(out[-1], b)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b))
    # halfway round, the path is orthogonal to both ends instead of passing through zero
    assert abs(out[4] @ a) < 1e-9 * np.linalg.norm(a) * np.linalg.norm(out[4])
    assert np.linalg.norm(out[4]) > 1


def test_slerp_with_a_zero_vector_is_a_straight_line():
    b = np.array([1.0, 2.0])
    np.testing.assert_allclose(latent.slerp(np.zeros(2), b, [0, 0.25, 1]), [[0, 0], [0.25, 0.5], [1, 2]])


def test_interpolation_rejects_bad_input():
    with pytest.raises(ValueError, match="dimensions"):
        latent.lerp(np.zeros(3), np.zeros(4), [0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        latent.slerp(np.ones(3), np.ones(3), [1.5])
    with pytest.raises(ValueError, match="NaN"):
        latent.lerp(np.array([np.nan, 0.0]), np.zeros(2), [0.5])


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_path_visits_every_point(method, rng):
    points = rng.normal(size=(3, 6))
    out = latent.path(points, steps_per_segment=4, method=method)
    assert out.shape == (9, 6)
    np.testing.assert_array_equal(out[[0, 4, 8]], points)


def test_path_needs_two_points_and_a_known_method():
    with pytest.raises(ValueError, match="at least two"):
        latent.path(np.zeros((1, 3)), 5)
    with pytest.raises(ValueError, match="unknown path method"):
        latent.path(np.zeros((2, 3)), 5, method="cubic")
    with pytest.raises(ValueError, match="positive whole number"):
        latent.path(np.zeros((2, 3)), 0)


# --- sampling -----------------------------------------------------------------------------
@pytest.fixture
def correlated_codes(rng):
    cov = np.array([[2.0, 1.2, 0.0], [1.2, 1.0, 0.0], [0.0, 0.0, 0.5]])
    return rng.multivariate_normal([1.0, -2.0, 0.5], cov, size=4000)


@pytest.mark.parametrize("kind", latent.SAMPLERS)
def test_samplers_shape_and_reproducibility(kind, correlated_codes):
    a = latent.sample(kind, 50, seed=3, codes=correlated_codes, n_components=3)
    b = latent.sample(kind, 50, seed=3, codes=correlated_codes, n_components=3)
    c = latent.sample(kind, 50, seed=4, codes=correlated_codes, n_components=3)
    assert a.shape == (50, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_prior_sampler_is_standard_normal():
    z = latent.sample("prior", 20000, seed=0, latent_dim=4)
    np.testing.assert_allclose(z.mean(0), 0, atol=0.05)
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.eye(4), atol=0.05)
    with pytest.raises(ValueError, match="latent size"):
        latent.sample("prior", 5)


def test_gaussian_sampler_matches_the_codes(correlated_codes):
    sampler = latent.CodeSampler.fit("gaussian", correlated_codes)
    z = sampler.sample(20000, seed=1)
    np.testing.assert_allclose(z.mean(0), correlated_codes.mean(0), atol=0.05)
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.cov(correlated_codes, rowvar=False), atol=0.08)
    half = sampler.sample(20000, seed=1, temperature=0.5)
    np.testing.assert_allclose(half.std(0), 0.5 * z.std(0), rtol=1e-9)


def test_temperature_zero_gives_the_mean(correlated_codes):
    z = latent.sample("gaussian", 5, seed=0, temperature=0.0, codes=correlated_codes)
    np.testing.assert_allclose(z, np.tile(correlated_codes.mean(0), (5, 1)))
    sampler = latent.CodeSampler.fit("mixture", correlated_codes, n_components=3, seed=0)
    z = sampler.sample(20, seed=0, temperature=0.0)
    distance_to_a_mean = np.abs(z[:, None] - sampler.means[None]).max(-1).min(1)
    np.testing.assert_allclose(distance_to_a_mean, 0, atol=1e-12)


def test_mixture_finds_separate_clusters(rng):
    centres = np.array([[-10.0, 0.0], [10.0, 0.0]])
    codes = centres[rng.integers(0, 2, 600)] + rng.normal(size=(600, 2))
    sampler = latent.CodeSampler.fit("mixture", codes, n_components=2, seed=0)
    z = sampler.sample(1000, seed=0)
    assert (np.abs(z[:, 0]) > 4).mean() > 0.99  # a single Gaussian would fill the gap around 0
    np.testing.assert_allclose(np.sort(sampler.means[:, 0]), [-10, 10], atol=0.3)


def test_sampler_accepts_a_collapsed_dimension(rng):
    codes = np.column_stack([rng.normal(size=300), np.full(300, 2.0)])
    z = latent.sample("gaussian", 100, seed=0, codes=codes)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z[:, 1], 2.0, atol=1e-6)


def test_sampler_errors():
    with pytest.raises(ValueError, match="unknown sampler"):
        latent.sample("uniform", 3, latent_dim=2)
    with pytest.raises(ValueError, match="encode a dataset"):
        latent.sample("gaussian", 3)
    with pytest.raises(ValueError, match="lower the number of components"):
        latent.sample("mixture", 3, codes=np.zeros((4, 2)), n_components=10)
    with pytest.raises(ValueError, match="temperature"):
        latent.sample("prior", 3, latent_dim=2, temperature=-1)


def test_nearest_finds_the_copied_codes(rng):
    codes = rng.normal(size=(200, 6))
    samples = codes[[5, 17, 123]] + 1e-4
    indices, distances = latent.nearest(samples, codes)
    np.testing.assert_array_equal(indices, [5, 17, 123])
    np.testing.assert_allclose(distances, 1e-4 * np.sqrt(6))
    with pytest.raises(ValueError, match="dimensions"):
        latent.nearest(np.zeros((1, 5)), codes)


# --- attribute arithmetic -----------------------------------------------------------------
def test_attribute_vector_recovers_a_known_direction(rng):
    direction = rng.normal(size=12)
    direction /= np.linalg.norm(direction)
    has_attribute = rng.random(1000) < 0.5
    codes = rng.normal(size=(1000, 12)) + 2.5 * np.outer(has_attribute, direction)
    labels = np.where(has_attribute, "smile", "neutral")
    vector = latent.attribute_vector(codes, latent.labels_to_indices(labels, "smile"),
                                     latent.labels_to_indices(labels, "neutral"))
    assert vector @ direction / np.linalg.norm(vector) > 0.95
    assert abs(np.linalg.norm(vector) - 2.5) < 0.4


def test_attribute_vector_explains_empty_or_bad_groups():
    codes = np.zeros((10, 3))
    with pytest.raises(ValueError, match="at least one point for group A"):
        latent.attribute_vector(codes, [], [1, 2])
    with pytest.raises(ValueError, match="at least one point for group B"):
        latent.attribute_vector(codes, [1], np.array([], dtype=int))
    with pytest.raises(ValueError, match="0..9"):
        latent.attribute_vector(codes, [1, 10], [2])
    with pytest.raises(ValueError, match="no labels"):
        latent.labels_to_indices(None, 3)


def test_apply_attribute_and_analogy():
    z, v = np.array([1.0, 1.0]), np.array([0.0, 2.0])
    np.testing.assert_allclose(latent.apply_attribute(z, v, [-1, 0, 0.5]), [[1, -1], [1, 1], [1, 2]])
    a, b, c = np.array([5.0, 1.0]), np.array([4.0, 0.0]), np.array([0.0, 3.0])
    np.testing.assert_allclose(latent.analogy(a, b, c), [1.0, 4.0])
    with pytest.raises(ValueError, match="dimensions"):
        latent.analogy(a, b, np.zeros(3))


# --- traversal ----------------------------------------------------------------------------
def test_traversal_ranges(rng):
    codes = rng.normal(size=(500, 4)) * [1, 2, 3, 4]
    np.testing.assert_array_equal(latent.traversal_ranges("prior", latent_dim=4), np.tile([-3.0, 3.0], (4, 1)))
    np.testing.assert_array_equal(latent.traversal_ranges("prior", codes=codes, sigma=2), np.tile([-2.0, 2.0], (4, 1)))
    minmax = latent.traversal_ranges("minmax", codes)
    np.testing.assert_array_equal(minmax, np.column_stack([codes.min(0), codes.max(0)]))
    pct = latent.traversal_ranges("percentile", codes, percentiles=(5, 95))
    np.testing.assert_allclose(pct, np.percentile(codes, [5, 95], axis=0).T)
    assert (pct[:, 0] > minmax[:, 0]).all() and (pct[:, 1] < minmax[:, 1]).all()
    with pytest.raises(ValueError, match="unknown traversal"):
        latent.traversal_ranges("sigma", codes)
    with pytest.raises(ValueError, match="encode a dataset"):
        latent.traversal_ranges("minmax")


def test_high_variance_dimension_ranks_first(rng):
    codes = rng.normal(size=(400, 5)) * [1.0, 0.1, 5.0, 0.5, 2.0]
    np.testing.assert_array_equal(latent.rank_dimensions(codes), [2, 4, 0, 3, 1])


def test_vae_ranking_uses_kl_not_variance(rng):
    n = 2000
    # dimension 0: informative (means spread like the prior, posteriors tight)
    # dimension 1: collapsed (posterior = prior for every input)
    # dimension 2: means spread wide but posteriors broad, so it carries less than 0
    mean = np.column_stack([rng.normal(size=n), np.zeros(n), 1.5 * rng.normal(size=n)])
    logvar = np.column_stack([np.full(n, np.log(0.01)), np.zeros(n), np.full(n, np.log(2.0))])
    kl = latent.dimension_importance(mean, logvar)
    assert kl[1] == 0.0
    expected_kl0 = 0.5 * (1 + 0.01 - 1 - np.log(0.01))
    assert abs(kl[0] - expected_kl0) < 0.1
    np.testing.assert_array_equal(latent.rank_dimensions(mean, logvar), [0, 2, 1])
    assert latent.rank_dimensions(mean)[0] == 2  # variance alone would rank dimension 2 first
    with pytest.raises(ValueError, match="log-variances have shape"):
        latent.dimension_importance(mean, logvar[:, :2])


def test_traversal_grid_sweeps_one_dimension_per_row():
    z0 = np.array([0.5, -1.0, 2.0])
    ranges = np.array([[-1.0, 1.0], [-2.0, 2.0], [0.0, 4.0]])
    grid = latent.traversal_grid(z0, [2, 0], ranges, n_values=5).reshape(2, 5, 3)
    np.testing.assert_allclose(grid[0, :, 2], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(grid[1, :, 0], [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_array_equal(grid[0, :, :2], np.tile(z0[:2], (5, 1)))
    np.testing.assert_array_equal(grid[1, :, 1:], np.tile(z0[1:], (5, 1)))
    with pytest.raises(ValueError, match="at least one dimension"):
        latent.traversal_grid(z0, [], ranges, 5)
    with pytest.raises(ValueError, match="0..2"):
        latent.traversal_grid(z0, [3], ranges, 5)


def test_codes_with_nan_are_refused():
    codes = np.zeros((4, 2))
    codes[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        latent.rank_dimensions(codes)
    with pytest.raises(ValueError, match="2-D"):
        latent.traversal_ranges("minmax", np.zeros(3))


# --- nearest codes ------------------------------------------------------------------------
def test_typical_neighbour_distance_is_the_median_gap_to_the_nearest_other_code():
    codes = np.array([[0.0], [1.0], [3.0], [7.0]])  # nearest gaps: 1, 1, 2, 4
    assert latent.typical_neighbour_distance(codes) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="at least two codes"):
        latent.typical_neighbour_distance(np.zeros((1, 3)))


def test_nearest_neighbours_sorted_by_distance():
    codes = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    idx, dist = latent.nearest_neighbours(codes, np.array([0.0, 0.0]), 2)
    assert idx.tolist() == [0, 2] and dist.tolist() == [0.0, 1.0]
