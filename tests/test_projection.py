import time

import numpy as np
import pytest

from explorer import projection

N_CODES = 300  # small enough for t-SNE and UMAP in about a second each once umap is compiled


def clustered_codes(n=N_CODES, dim=8, clusters=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (clusters, dim))
    return centres[rng.integers(0, clusters, n)] + rng.normal(size=(n, dim))


@pytest.fixture(scope="module")
def codes():
    return clustered_codes()


@pytest.fixture(scope="module")
def fitted(codes):
    """Each method fitted once: (projection, coords)."""
    out = {}
    for method in projection.METHODS:
        p = projection.make_projection(method)
        out[method] = (p, p.fit(codes))
    return out


def extent(coords):
    return np.linalg.norm(np.ptp(coords, axis=0))


# --- parameters ---------------------------------------------------------------------------
def test_every_method_has_checked_defaults():
    assert projection.METHODS == ("pca", "tsne", "umap")
    for method in projection.METHODS:
        for name, spec in projection.method_params(method).items():
            assert spec.low <= spec.default <= spec.high, (method, name)
        assert projection.make_projection(method).params == projection.default_params(method)


def test_parameters_are_validated():
    p = projection.make_projection("umap", n_neighbors=10.0, min_dist=0.5)
    assert p.params["n_neighbors"] == 10 and isinstance(p.params["n_neighbors"], int)
    with pytest.raises(ValueError, match="no parameter perplexity"):
        projection.make_projection("umap", perplexity=30)
    with pytest.raises(ValueError, match="between"):
        projection.make_projection("tsne", perplexity=1000)
    with pytest.raises(ValueError, match="whole number"):
        projection.make_projection("umap", n_neighbors=7.5)
    with pytest.raises(ValueError, match="unknown projection"):
        projection.make_projection("isomap")


# --- fit / transform / inverse ------------------------------------------------------------
@pytest.mark.parametrize("method", projection.METHODS)
def test_fit_gives_one_finite_position_per_code(method, fitted, codes):
    p, coords = fitted[method]
    assert coords.shape == (len(codes), 2)
    assert np.isfinite(coords).all()
    assert extent(coords) > 0


@pytest.mark.parametrize("method", projection.METHODS)
def test_a_training_code_is_placed_at_its_own_position(method, fitted, codes):
    p, coords = fitted[method]
    rows = [0, 57, 123, 250]
    placed = p.transform(codes[rows])
    error = np.linalg.norm(placed - coords[rows], axis=1)
    assert (error < 0.05 * extent(coords)).all(), error / extent(coords)  # a random point: ~0.4


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_new_codes_land_among_their_neighbours(method, fitted, codes):
    p, coords = fitted[method]
    new = codes[:20] + np.random.default_rng(1).normal(0, 0.3, (20, codes.shape[1]))
    placed = p.transform(new)
    nearest_code = np.argmin(((new[:, None] - codes[None]) ** 2).sum(-1), axis=1)
    error = np.linalg.norm(placed - coords[nearest_code], axis=1)
    assert np.median(error) < 0.05 * extent(coords)


def test_pca_round_trip_is_exact_in_its_plane(fitted):
    p, coords = fitted["pca"]
    in_plane = p.mean + np.array([[1.0, -2.0], [0.0, 3.5], [7.0, 0.1]]) @ p.components
    np.testing.assert_allclose(p.inverse(p.transform(in_plane)), in_plane, atol=1e-10)
    np.testing.assert_allclose(p.transform(p.inverse(coords[:5])), coords[:5], atol=1e-10)


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_inverse_of_a_map_position_gives_its_code(method, fitted, codes):
    p, coords = fitted[method]
    np.testing.assert_array_equal(p.inverse(coords[[3, 99]]), codes[[3, 99]])
    # between a point and its nearest map neighbour: a blend of the codes around there
    neighbour = np.argsort(np.linalg.norm(coords - coords[3], axis=1))[1]
    between = p.inverse((coords[[3]] + coords[[neighbour]]) / 2)[0]
    distance_to_others = np.linalg.norm(codes - codes[3], axis=1)
    assert np.linalg.norm(between - codes[3]) < 0.5 * np.median(distance_to_others)
    assert not np.allclose(between, codes[3]) and not np.allclose(between, codes[neighbour])


@pytest.mark.parametrize("method", projection.METHODS)
def test_bad_input_is_explained(method, fitted, codes):
    p, _ = fitted[method]
    with pytest.raises(ValueError, match="8-d codes"):
        p.transform(np.zeros((1, 5)))
    with pytest.raises(ValueError, match=r"\(M, 2\)"):
        p.inverse(np.zeros((1, 3)))
    bad = codes.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        projection.make_projection(method).fit(bad)


def test_size_limits_are_explained():
    with pytest.raises(ValueError, match="lower the perplexity"):
        projection.make_projection("tsne", perplexity=30).fit(clustered_codes(n=60))
    with pytest.raises(ValueError, match="lower n_neighbors"):
        projection.make_projection("umap", n_neighbors=50).fit(clustered_codes(n=40))
    with pytest.raises(RuntimeError, match="fit"):
        projection.make_projection("umap").transform(np.zeros((1, 8)))


@pytest.mark.parametrize("method", projection.METHODS)
def test_progress_runs_from_zero_to_one(method, codes):
    seen = []
    projection.make_projection(method).fit(codes, progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(0 <= a <= b <= 1 for a, b in zip(seen, seen[1:]))
    if method == "tsne":
        assert len(seen) > 5  # reported while iterating, not only at the ends


# --- the disk cache -----------------------------------------------------------------------
KEY = ("checkpoint-hash", "dataset-id")


@pytest.mark.parametrize("method", projection.METHODS)
def test_cache_hit_restores_the_same_map_without_refitting(method, codes, isolated_cache):
    first = projection.project(codes, method, {}, KEY)
    assert not first.from_cache
    start = time.perf_counter()
    second = projection.project(codes, method, {}, KEY)
    assert time.perf_counter() - start < 1.0
    assert second.from_cache
    np.testing.assert_array_equal(second.coords, first.coords)
    # a restored map places and inverts exactly as the fitted one did
    new = codes[:3] + 0.1
    np.testing.assert_allclose(second.projection.transform(new), first.projection.transform(new), atol=1e-9)
    positions = first.coords[:4] + 0.3
    np.testing.assert_allclose(second.projection.inverse(positions), first.projection.inverse(positions))


def test_cache_key_covers_parameters_codes_and_caller(codes):
    projection.project(codes, "umap", {"n_neighbors": 10}, KEY)
    assert projection.project(codes, "umap", {"n_neighbors": 10}, KEY).from_cache
    assert not projection.project(codes, "umap", {"n_neighbors": 12}, KEY).from_cache
    assert not projection.project(codes[:-1], "umap", {"n_neighbors": 10}, KEY).from_cache
    assert not projection.project(codes, "umap", {"n_neighbors": 10}, ("other-checkpoint", "dataset-id")).from_cache


def test_corrupt_cache_entry_is_recomputed(codes, isolated_cache):
    first = projection.project(codes, "pca", {}, KEY)
    (entry,) = (isolated_cache / projection.CACHE_KIND).glob("*.npz")
    entry.write_bytes(b"not a zip file")
    again = projection.project(codes, "pca", {}, KEY)
    assert not again.from_cache
    np.testing.assert_allclose(again.coords, first.coords)
    assert projection.project(codes, "pca", {}, KEY).from_cache  # rewritten, readable


def test_cache_entry_of_the_wrong_shape_is_recomputed(codes, isolated_cache):
    first = projection.project(codes, "pca", {}, KEY)
    (entry,) = (isolated_cache / projection.CACHE_KIND).glob("*.npz")
    with np.load(entry) as f:
        arrays = dict(f)
    arrays["coords"] = arrays["coords"][:10]
    with open(entry, "wb") as f:
        np.savez(f, **arrays)
    again = projection.project(codes, "pca", {}, KEY)
    assert not again.from_cache
    np.testing.assert_allclose(again.coords, first.coords)


# --- a 2-d model's own plane, and what every projection says about itself --------------------------
def test_a_2d_models_codes_are_their_own_map():
    codes = clustered_codes(dim=2)
    result = projection.project(codes, "latent", {}, ("a 2-d model", "its dataset"))
    plane = result.projection
    np.testing.assert_array_equal(result.coords, codes)
    np.testing.assert_array_equal(plane.transform(codes[:3]), codes[:3])
    np.testing.assert_array_equal(plane.inverse([[0.5, -1.0]]), [[0.5, -1.0]])
    with pytest.raises(ValueError, match="2-d codes"):
        projection.make_projection("latent").fit(clustered_codes(dim=3))
    with pytest.raises(ValueError, match="dimensions"):
        plane.transform(np.zeros((1, 3)))
    assert projection.methods_for(2) == ("latent",) and projection.methods_for(16) == projection.METHODS


def test_every_projection_names_itself_its_axes_and_its_inverse():
    assert {m: projection.label(m) for m in projection.PROJECTIONS} == {
        "pca": "PCA", "tsne": "t-SNE", "umap": "UMAP", "latent": "latent space"}
    for kind in projection.PROJECTIONS.values():
        assert kind.heading and kind.inverse_note and len(kind.axis_names) == 2 and all(kind.axis_names)
    assert projection.PROJECTIONS["latent"].axis_names == ("z 0", "z 1")
    assert [m for m, kind in projection.PROJECTIONS.items() if kind.instant] == ["pca", "latent"]
    with pytest.raises(ValueError, match="unknown projection"):
        projection.label("isomap")
