"""Operations on latent codes: paths, samplers, nearest codes and their spacing, attribute
arithmetic, traversals.

Plain numpy in and out (codes are (N, D) float arrays), so every page can decode whatever
these return. Bad input raises ``ValueError`` with a message a user can act on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

SAMPLERS = ("prior", "gaussian", "mixture")
TRAVERSAL_MODES = ("prior", "percentile", "minmax")
PATH_METHODS = ("linear", "slerp")
ANGLE_TOLERANCE = 1e-6  # radians: closer to 0 or pi than this, the great circle is ill-defined


# --- input checks -------------------------------------------------------------------------
def as_codes(x, what: str = "codes") -> np.ndarray:
    """A non-empty, finite (N, D) float64 array, or a ValueError saying what is wrong."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty 2-D array (points x latent dimensions), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return x


def as_vector(v, what: str, dim: int | None = None) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{what} must be a 1-D latent code, got shape {v.shape}")
    if dim is not None and v.size != dim:
        raise ValueError(f"{what} has {v.size} dimensions but the codes have {dim}")
    if not np.isfinite(v).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return v


def as_fractions(t) -> np.ndarray:
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if t.ndim != 1 or not np.isfinite(t).all() or (t < 0).any() or (t > 1).any():
        raise ValueError("interpolation positions t must be a 1-D array of numbers in [0, 1]")
    return t


def as_indices(idx, n: int, what: str) -> np.ndarray:
    idx = np.asarray(idx).reshape(-1)
    if idx.size == 0:
        raise ValueError(f"select at least one point for {what}")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{what} must be given as integer row indices, got dtype {idx.dtype}")
    outside = idx[(idx < 0) | (idx >= n)]
    if outside.size:
        raise ValueError(f"{what} refers to point {int(outside[0])}, but the codes are numbered 0..{n - 1}")
    return idx


def pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = as_vector(a, "the start code")
    return a, as_vector(b, "the end code", dim=a.size)


# --- interpolation ------------------------------------------------------------------------
def lerp(a, b, t) -> np.ndarray:
    """Straight line from ``a`` to ``b`` at positions ``t`` in [0, 1] -> (len(t), D)."""
    a, b = pair(a, b)
    t = as_fractions(t)
    return a + t[:, None] * (b - a)


def slerp(a, b, t) -> np.ndarray:
    """Along the great circle from ``a``'s direction to ``b``'s, with the norm going linearly
    from |a| to |b|, so the path keeps the "shell" a Gaussian prior puts codes on.

    Nearly parallel vectors (or a zero vector) fall back to ``lerp``, which is then the same
    path to rounding. Exactly opposite vectors have no unique great circle: we turn through a
    fixed direction orthogonal to ``a`` (built from the coordinate axis least aligned with it),
    so the same inputs always give the same path.
    """
    a, b = pair(a, b)
    t = as_fractions(t)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0 or norm_b == 0:
        return lerp(a, b, t)
    unit_a, unit_b = a / norm_a, b / norm_b
    # the angle from the chord lengths stays accurate near 0 and pi, where arccos(dot) does not
    angle = 2 * np.arctan2(np.linalg.norm(unit_a - unit_b), np.linalg.norm(unit_a + unit_b))
    if angle < ANGLE_TOLERANCE:
        return lerp(a, b, t)
    if np.pi - angle < ANGLE_TOLERANCE:
        axis = np.zeros_like(a)
        axis[np.argmin(np.abs(unit_a))] = 1.0
        ortho = axis - (axis @ unit_a) * unit_a
        ortho /= np.linalg.norm(ortho)
        directions = np.cos(np.pi * t)[:, None] * unit_a + np.sin(np.pi * t)[:, None] * ortho
    else:
        directions = (np.sin((1 - t) * angle)[:, None] * unit_a + np.sin(t * angle)[:, None] * unit_b) / np.sin(angle)
    out = ((1 - t) * norm_a + t * norm_b)[:, None] * directions
    # the formula returns the endpoints only to rounding; decoding them should give exactly
    # the reconstructions of the chosen images
    out[t == 0] = a
    out[t == 1] = b
    return out


def path(points, steps_per_segment: int, method: str = "linear") -> np.ndarray:
    """A path through two or more codes (K, D), visiting each of them exactly.

    Each of the K - 1 segments contributes ``steps_per_segment`` codes (its start included)
    and the last point closes the path: ((K - 1) * steps_per_segment + 1, D).
    """
    points = as_codes(points, "path points")
    if len(points) < 2:
        raise ValueError("a path needs at least two points: select a start and an end")
    if method not in PATH_METHODS:
        raise ValueError(f"unknown path method {method!r}: use one of {PATH_METHODS}")
    if int(steps_per_segment) != steps_per_segment or steps_per_segment < 1:
        raise ValueError(f"steps per segment must be a positive whole number, got {steps_per_segment}")
    interpolate = slerp if method == "slerp" else lerp
    t = np.arange(int(steps_per_segment)) / steps_per_segment
    segments = [interpolate(start, end, t) for start, end in zip(points[:-1], points[1:])]
    return np.concatenate(segments + [points[-1:]])


# --- sampling -----------------------------------------------------------------------------
@dataclass
class CodeSampler:
    """Every sampler is a Gaussian mixture: the prior and the fitted Gaussian have one component.

    Fit once, sample many times: moving a temperature slider must not refit a mixture.
    """

    kind: str  # one of SAMPLERS
    means: np.ndarray  # (K, D) component means
    factors: np.ndarray  # (K, D, D) F with F @ F.T = component covariance
    weights: np.ndarray  # (K,) mixing weights, summing to 1

    @classmethod
    def fit(cls, kind: str, codes=None, latent_dim: int | None = None, n_components: int = 10,
            seed: int = 0) -> CodeSampler:
        if kind not in SAMPLERS:
            raise ValueError(f"unknown sampler {kind!r}: use one of {SAMPLERS}")
        if kind == "prior":
            dim = as_codes(codes).shape[1] if codes is not None else latent_dim
            if dim is None or int(dim) < 1:
                raise ValueError("the prior sampler needs the latent size: pass codes or latent_dim")
            dim = int(dim)
            return cls(kind, np.zeros((1, dim)), np.eye(dim)[None], np.ones(1))
        if codes is None:
            raise ValueError(f"the {kind} sampler is fitted to training codes: encode a dataset first")
        codes = as_codes(codes, "training codes")
        if kind == "gaussian":
            if len(codes) < 2:
                raise ValueError("fitting a Gaussian needs at least two training codes")
            cov = np.atleast_2d(np.cov(codes, rowvar=False))
            return cls(kind, codes.mean(0, keepdims=True), covariance_factor(cov)[None], np.ones(1))
        if int(n_components) < 1:
            raise ValueError(f"the mixture needs at least one component, got {n_components}")
        if len(codes) < n_components:
            raise ValueError(f"a {n_components}-component mixture needs at least {n_components} training codes, "
                             f"got {len(codes)}: lower the number of components")
        gmm = GaussianMixture(n_components=int(n_components), covariance_type="full", random_state=seed).fit(codes)
        factors = np.stack([covariance_factor(c) for c in gmm.covariances_])
        return cls(kind, gmm.means_, factors, gmm.weights_)

    @property
    def latent_dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """``n`` codes; ``temperature`` scales each draw's deviation from its component mean."""
        if int(n) != n or n < 0:
            raise ValueError(f"the number of samples must be a whole number >= 0, got {n}")
        if not np.isfinite(temperature) or temperature < 0:
            raise ValueError(f"temperature must be a number >= 0, got {temperature}")
        rng = np.random.default_rng(seed)
        component = rng.choice(len(self.weights), size=int(n), p=self.weights)
        noise = rng.standard_normal((int(n), self.latent_dim))
        deviation = np.einsum("nij,nj->ni", self.factors[component], noise)
        return self.means[component] + temperature * deviation


def covariance_factor(cov: np.ndarray) -> np.ndarray:
    """F with F @ F.T = cov; unlike Cholesky it accepts the singular covariance of a collapsed
    dimension (rounding can push its eigenvalue just below zero, so those are clipped)."""
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    return eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))


def sample(kind: str, n: int, seed: int = 0, temperature: float = 1.0, codes=None, n_components: int = 10,
           latent_dim: int | None = None) -> np.ndarray:
    """One-off sampling; keep a ``CodeSampler`` instead when sampling repeatedly."""
    return CodeSampler.fit(kind, codes, latent_dim, n_components, seed).sample(n, seed, temperature)


def nearest(samples, codes) -> tuple[np.ndarray, np.ndarray]:
    """Index of and Euclidean distance to the closest code for each sample: a sample that sits
    on a training code suggests the model (or the sampler) copies its training set."""
    codes = as_codes(codes, "training codes")
    samples = as_codes(samples, "samples")
    if samples.shape[1] != codes.shape[1]:
        raise ValueError(f"samples have {samples.shape[1]} dimensions but the codes have {codes.shape[1]}")
    distances, indices = NearestNeighbors(n_neighbors=1).fit(codes).kneighbors(samples)
    return indices[:, 0], distances[:, 0]


def typical_neighbour_distance(codes) -> float:
    """Median distance from a code to its nearest other code: the yardstick for how close a
    sample's nearest training code is."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"need at least two codes to measure their spacing, got shape {codes.shape}")
    distances, _ = NearestNeighbors(n_neighbors=2).fit(codes).kneighbors(codes)
    return float(np.median(distances[:, 1]))


def nearest_neighbours(codes: np.ndarray, code: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` codes closest to ``code`` (Euclidean), nearest first, and their distances."""
    distances = np.linalg.norm(codes - np.asarray(code).reshape(1, -1), axis=1)
    order = np.argsort(distances, kind="stable")[:k]
    return order, distances[order]


# --- attribute arithmetic -----------------------------------------------------------------
def labels_to_indices(labels, label) -> np.ndarray:
    """Rows whose label equals ``label`` (possibly none)."""
    if labels is None:
        raise ValueError("this dataset has no labels: select the points of each group by hand")
    return np.flatnonzero(np.asarray(labels) == label)


def attribute_vector(codes, group_a_idx, group_b_idx) -> np.ndarray:
    """mean(A) - mean(B): adding it moves a code from "like B" towards "like A"."""
    codes = as_codes(codes)
    a = as_indices(group_a_idx, len(codes), "group A")
    b = as_indices(group_b_idx, len(codes), "group B")
    return codes[a].mean(0) - codes[b].mean(0)


def apply_attribute(z, vector, alphas) -> np.ndarray:
    """``z + alpha * vector`` for each alpha -> (len(alphas), D)."""
    z = as_vector(z, "the code")
    vector = as_vector(vector, "the attribute vector", dim=z.size)
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if alphas.ndim != 1 or not np.isfinite(alphas).all():
        raise ValueError("alphas must be a 1-D array of finite numbers")
    return z + alphas[:, None] * vector


def analogy(a, b, c) -> np.ndarray:
    """``a - b + c``: "a is to b as ? is to c"."""
    a = as_vector(a, "code a")
    return a - as_vector(b, "code b", dim=a.size) + as_vector(c, "code c", dim=a.size)


# --- traversal ----------------------------------------------------------------------------
def traversal_ranges(mode: str, codes=None, latent_dim: int | None = None, sigma: float = 3.0,
                     percentiles: tuple[float, float] = (1, 99)) -> np.ndarray:
    """(D, 2) low/high slider bounds per dimension.

    "prior": +-sigma of N(0, 1), for VAEs; "percentile": the given percentiles of the codes
    (robust to outliers); "minmax": the codes' full extent.
    """
    if mode not in TRAVERSAL_MODES:
        raise ValueError(f"unknown traversal range {mode!r}: use one of {TRAVERSAL_MODES}")
    if mode == "prior":
        dim = as_codes(codes).shape[1] if codes is not None else latent_dim
        if dim is None or int(dim) < 1:
            raise ValueError("prior ranges need the latent size: pass codes or latent_dim")
        if not np.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"sigma must be a positive number, got {sigma}")
        return np.tile([-float(sigma), float(sigma)], (int(dim), 1))
    if codes is None:
        raise ValueError(f"{mode} ranges come from the codes: encode a dataset first")
    codes = as_codes(codes)
    if mode == "minmax":
        return np.stack([codes.min(0), codes.max(0)], axis=1)
    low, high = percentiles
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
    return np.percentile(codes, [low, high], axis=0).T


def dimension_importance(codes, logvar=None) -> np.ndarray:
    """(D,) how much each dimension carries.

    With ``logvar`` (a VAE's codes are the posterior means) it is the mean KL divergence of
    N(mean, exp(logvar)) from N(0, 1) per dimension: a dimension the model ignores stays at the
    prior and costs ~0 nats. Otherwise it is the variance of the codes.
    """
    codes = as_codes(codes)
    if logvar is None:
        return codes.var(0)
    logvar = as_codes(logvar, "log-variances")
    if logvar.shape != codes.shape:
        raise ValueError(f"log-variances have shape {logvar.shape} but the codes have {codes.shape}")
    return (0.5 * (codes**2 + np.exp(logvar) - 1 - logvar)).mean(0)


def rank_dimensions(codes, logvar=None) -> np.ndarray:
    """Dimension indices, most important first (ties keep their order)."""
    return np.argsort(-dimension_importance(codes, logvar), kind="stable")


def traversal_grid(z0, dims, ranges, n_values: int) -> np.ndarray:
    """Codes for a grid of images: one row per dimension in ``dims``, ``n_values`` columns
    sweeping that dimension across its range (``ranges`` is (D, 2)) with the others fixed
    at ``z0``. Returned flat, row by row: (len(dims) * n_values, D)."""
    z0 = as_vector(z0, "the starting code")
    ranges = np.asarray(ranges, dtype=np.float64)
    if ranges.shape != (z0.size, 2) or not np.isfinite(ranges).all():
        raise ValueError(f"ranges must be a finite ({z0.size}, 2) array of low/high bounds, got shape {ranges.shape}")
    dims = np.asarray(dims).reshape(-1)
    if dims.size == 0:
        raise ValueError("select at least one dimension to traverse")
    if not np.issubdtype(dims.dtype, np.integer) or dims.min() < 0 or dims.max() >= z0.size:
        raise ValueError(f"dimensions must be whole numbers in 0..{z0.size - 1}, got {dims.tolist()}")
    if int(n_values) != n_values or n_values < 1:
        raise ValueError(f"the number of values per dimension must be a positive whole number, got {n_values}")
    n_values = int(n_values)
    grid = np.tile(z0, (dims.size, n_values, 1))
    for row, dim in enumerate(dims):
        grid[row, :, dim] = np.linspace(ranges[dim, 0], ranges[dim, 1], n_values)
    return grid.reshape(-1, z0.size)
