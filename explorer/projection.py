"""2-D maps of latent codes: PCA, t-SNE, UMAP, and a 2-d model's own latent plane, behind one
interface. Each projection carries its label, its axis names and what its inverse does, for
whatever draws it.

``make_projection(method, **params)`` gives a ``Projection``: ``fit`` (codes -> map
positions), ``transform`` (new codes -> positions in the existing map) and ``inverse`` (map
positions -> codes). ``project`` adds the disk cache, so a restarted app shows its maps at once.

Nothing fitted is pickled, so every projection is rebuilt from arrays after a cache hit, and
none of them needs refitting to do it:
- PCA keeps its mean and two components: transform and inverse are exact.
- t-SNE places new points with openTSNE's ``transform`` on a ``TSNEEmbedding`` rebuilt from
  the cached positions and the codes' affinities. The affinities are recomputed from the codes
  on first use (``prepare``; 0.3 s at 5k, 2.3 s at 20k), which leaves the map unchanged.
- UMAP places new points the way ``umap.UMAP.transform`` does, with umap's own functions
  (membership strengths to the k nearest codes, their weighted mean position, then SGD
  against the fixed map), on exact neighbours. It needs only the codes, the positions and the
  parameters, so a freshly fitted map and a cached one place points identically. On one map
  of 4,500 codes, 500 held-out codes placed this way and by ``umap.UMAP.transform`` lay a
  median 0.1 apart (the map is 18 wide), with the same 10-NN label accuracy (0.826 vs 0.828).
- t-SNE and UMAP invert by inverse-distance weighting of the codes of the nearest map points.
  umap's ``inverse_transform`` would need the fitted model and took 3.5 to 29 s per point at
  5k (it rebuilds a Delaunay triangulation of the map on every call).

Defaults were picked by measurement on 5,000 MNIST codes of a 16-d autoencoder on 2 shared
cores, scoring maps by 10-NN recall (code neighbours kept as map neighbours) and 10-NN label
accuracy in the map:
- t-SNE: exact neighbours took 0.3 s where Annoy took 2.4 s on 16-d codes. 375 iterations
  (125 exaggerated) scored as the default 750 (recall 0.504 vs 0.507, accuracy 0.903 vs 0.905)
  in 10 s instead of 25 s. Perplexity 30 scored as 15 and above 50 (recall 0.490, slower).
  Barnes-Hut fitted as fast as FFT at 5k and FFT beat it at 20k (22 s vs 60 s): openTSNE's
  "auto" makes that choice. Placing points uses the FFT gradient (15 ms a point, Barnes-Hut
  0.6 s).
- UMAP: exact neighbours from scikit-learn instead of pynndescent, whose numba compilation
  made the first fit in a process cost about a minute; init="pca" because spectral init took
  minutes at 40k points; 200 epochs scored close to the default 500 (recall 0.335 vs 0.346,
  accuracy 0.875 vs 0.880) in 1.8 s instead of 4.2 s; 15 neighbours gave the best accuracy
  (10: 0.872, 30: 0.854).
"""
from __future__ import annotations

import hashlib
import threading
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from . import cache
from .latent import as_codes
from .threads import one_openmp_thread

Progress = Callable[[float], None]  # receives the fraction done, 0..1

CACHE_KIND = "projections"
CACHE_VERSION = 1  # bump when a change here alters the coordinates a method produces


@dataclass(frozen=True)
class Param:
    default: int | float  # its type is the parameter's type
    low: int | float  # smallest accepted value
    high: int | float  # largest accepted value
    help: str  # one line for the widget's tooltip


SEED = Param(0, 0, 2**31 - 1, "random seed: the same seed gives the same map")
PARAMS: dict[str, dict[str, Param]] = {
    "pca": {},
    "tsne": {
        "perplexity": Param(30.0, 2.0, 100.0, "effective number of neighbours each point tries to keep close"),
        "n_iter": Param(375, 50, 3000, "optimisation steps; the first third exaggerates attraction to form clusters"),
        "seed": SEED,
    },
    "latent": {},
    "umap": {
        "n_neighbors": Param(15, 2, 200, "neighbourhood size: larger keeps more of the global layout"),
        "min_dist": Param(0.1, 0.0, 0.99, "how tightly points may pack together"),
        "n_epochs": Param(200, 20, 2000, "optimisation epochs"),
        "seed": SEED,
    },
}
METHODS = ("pca", "tsne", "umap")  # maps of codes of any size


def methods_for(latent_dim: int) -> tuple[str, ...]:
    """The maps offered for codes of this size: 2-d codes are their own map."""
    return ("latent",) if latent_dim == 2 else METHODS


def default_params(method: str) -> dict:
    return {name: p.default for name, p in method_params(method).items()}


def method_params(method: str) -> dict[str, Param]:
    if method not in PARAMS:
        raise ValueError(f"unknown projection {method!r}: use one of {', '.join(PARAMS)}")
    return PARAMS[method]


def resolve_params(method: str, params: dict) -> dict:
    """``params`` over the defaults, checked against each parameter's type and range."""
    spec = method_params(method)
    unknown = set(params) - set(spec)
    if unknown:
        raise ValueError(f"{method} has no parameter {', '.join(sorted(unknown))}; "
                         f"it takes {', '.join(spec) or 'none'}")
    resolved = default_params(method)
    for name, value in params.items():
        kind = type(spec[name].default)
        if kind is int and float(value) != int(value):
            raise ValueError(f"{name} must be a whole number, got {value}")
        value = kind(value)
        if not spec[name].low <= value <= spec[name].high:
            raise ValueError(f"{name} must be between {spec[name].low} and {spec[name].high}, got {value}")
        resolved[name] = value
    return resolved


def report(progress: Progress | None, fraction: float) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0))


def as_points(points) -> np.ndarray:
    points = as_codes(points, "map positions")
    if points.shape[1] != 2:
        raise ValueError(f"map positions must be (M, 2), got shape {points.shape}")
    return points


# --- the interface ------------------------------------------------------------------------
class Projection(ABC):
    """A 2-D map of a set of codes, fitted here or restored from cached arrays."""

    method: ClassVar[str] = ""
    label: ClassVar[str] = ""  # its name in a sentence: "the t-SNE map"
    heading: ClassVar[str] = ""  # its name as a title: "t-SNE of 5,000 codes"
    axis_names: ClassVar[tuple[str, str]] = ("", "")
    instant: ClassVar[bool] = True  # fitted while the page waits; otherwise in the background
    inverse_note: ClassVar[str] = ""  # what a position decoded through ``inverse`` is

    def __init__(self, **params):
        self.params = resolve_params(self.method, params)
        self.codes: np.ndarray | None = None  # (N, D) the codes the map was made of
        self.coords: np.ndarray | None = None  # (N, 2) their map positions

    def fit(self, codes, progress: Progress | None = None) -> np.ndarray:
        """Map ``codes`` (N, D) to positions (N, 2)."""
        codes = as_codes(codes)
        self.check_size(codes)
        report(progress, 0.0)
        coords = self.fit_codes(codes, progress)
        self.attach(codes, coords)
        report(progress, 1.0)
        return self.coords

    def restore(self, codes, coords: np.ndarray, state: dict[str, np.ndarray]) -> None:
        """Take the positions (and ``state()``) of an earlier fit of these codes, without refitting.

        Raises ValueError when the arrays do not fit, so the caller can refit instead.
        """
        codes = as_codes(codes)
        coords = np.asarray(coords, dtype=np.float64)
        if coords.shape != (len(codes), 2) or not np.isfinite(coords).all():
            raise ValueError(f"cached positions have shape {coords.shape}, expected ({len(codes)}, 2)")
        self.attach(codes, coords)

    def attach(self, codes: np.ndarray, coords: np.ndarray) -> None:
        self.codes, self.coords = codes, coords

    def state(self) -> dict[str, np.ndarray]:
        """Arrays beyond the positions that ``restore`` needs."""
        return {}

    def prepare(self) -> None:
        """Build what ``transform`` needs ahead of its first call (safe from a background thread)."""

    @abstractmethod
    def fit_codes(self, codes: np.ndarray, progress: Progress | None) -> np.ndarray:
        """Positions (N, 2) of validated codes."""

    @abstractmethod
    def transform(self, codes) -> np.ndarray:
        """Positions (M, 2) of new codes (M, D) in the existing map."""

    @abstractmethod
    def inverse(self, points) -> np.ndarray:
        """Codes (M, D) for map positions (M, 2)."""

    # --- shared checks --------------------------------------------------------------------
    def check_size(self, codes: np.ndarray) -> None:
        if len(codes) < 3:
            raise ValueError(f"a map needs at least 3 codes, got {len(codes)}")

    def fitted_codes(self) -> np.ndarray:
        if self.codes is None:
            raise RuntimeError("fit (or restore) the projection before using it")
        return self.codes

    def new_codes(self, codes) -> np.ndarray:
        dim = self.fitted_codes().shape[1]
        codes = as_codes(codes, "new codes")
        if codes.shape[1] != dim:
            raise ValueError(f"new codes have {codes.shape[1]} dimensions but the map was made of {dim}-d codes")
        return codes


class PCAProjection(Projection):
    """The plane of largest variance: linear, so transform and inverse are exact."""

    method, label, heading, axis_names = "pca", "PCA", "PCA", ("PC 1", "PC 2")
    inverse_note = "each grid point is a code on the plane of the two principal axes"

    def check_size(self, codes: np.ndarray) -> None:
        super().check_size(codes)
        if codes.shape[1] < 2:
            raise ValueError("a PCA map needs codes with at least 2 dimensions")

    def fit_codes(self, codes, progress):
        pca = PCA(n_components=2, svd_solver="full").fit(codes)
        self.mean, self.components = pca.mean_, pca.components_
        return (codes - self.mean) @ self.components.T

    def state(self):
        return {"mean": self.mean, "components": self.components}

    def restore(self, codes, coords, state):
        codes = as_codes(codes)
        mean, components = np.asarray(state["mean"]), np.asarray(state["components"])
        if mean.shape != (codes.shape[1],) or components.shape != (2, codes.shape[1]):
            raise ValueError("cached PCA axes do not match the codes")
        self.mean, self.components = mean, components
        super().restore(codes, coords, state)

    def transform(self, codes):
        return (self.new_codes(codes) - self.mean) @ self.components.T

    def inverse(self, points):
        self.fitted_codes()
        return as_points(points) @ self.components + self.mean


class NeighbourMap(Projection):
    """A nonlinear map: inverted by inverse-distance weighting of nearby map points' codes."""

    # Inverting the placed positions of 1,000 held-out codes: 8 to 32 neighbours erred within
    # 3% of each other, a single neighbour 7% (t-SNE) to 20% (UMAP) more.
    inverse_neighbours: ClassVar[int] = 8  # map points blended per inverse
    inverse_power: ClassVar[float] = 2.0  # weight = 1 / distance ** power

    def attach(self, codes, coords):
        super().attach(codes, coords)
        k = min(self.inverse_neighbours, len(coords))
        self.map_index = NearestNeighbors(n_neighbors=k).fit(coords)

    def inverse(self, points):
        codes = self.fitted_codes()
        distances, neighbours = self.map_index.kneighbors(as_points(points))
        with np.errstate(divide="ignore"):
            weights = 1.0 / distances**self.inverse_power
        # a position on a map point gives that point's code exactly
        on_point = distances[:, 0] == 0
        weights[on_point] = np.arange(weights.shape[1]) == 0
        weights /= weights.sum(1, keepdims=True)
        return np.einsum("mk,mkd->md", weights, codes[neighbours])


class TSNEProjection(NeighbourMap):
    """openTSNE: its embedding can place new points, which scikit-learn's TSNE cannot."""

    method, label, heading, axis_names, instant = "tsne", "t-SNE", "t-SNE", ("t-SNE 1", "t-SNE 2"), False
    inverse_note = "t-SNE has no inverse: each grid point blends the codes of the nearest map points"
    n_jobs: ClassVar[int] = 1  # threads; more stalled badly on 2 busy cores (0.8 s became 11 s)
    progress_every: ClassVar[int] = 25  # iterations between progress reports

    def __init__(self, **params):
        super().__init__(**params)
        self.placer = None  # TSNEEmbedding of the map, built on first use
        self.affinities = None  # openTSNE affinities of the codes, from fit or built on first use
        self.lock = threading.Lock()  # transform moves the embedding in place

    def check_size(self, codes):
        super().check_size(codes)
        if len(codes) <= 3 * self.params["perplexity"]:
            raise ValueError(f"t-SNE with perplexity {self.params['perplexity']:g} needs more than "
                             f"{int(3 * self.params['perplexity'])} codes, got {len(codes)}: lower the perplexity")

    def make_affinities(self, codes: np.ndarray):
        from openTSNE.affinity import PerplexityBasedNN

        return PerplexityBasedNN(codes, perplexity=self.params["perplexity"], method="exact",
                                 n_jobs=self.n_jobs, random_state=self.params["seed"])

    def fit_codes(self, codes, progress):
        from openTSNE import TSNE

        self.affinities = self.make_affinities(codes)
        report(progress, 0.05)
        total = self.params["n_iter"]
        early = total // 3
        iterations_done = 0

        def on_iterations(iteration, error, embedding):  # called every progress_every iterations of each phase
            nonlocal iterations_done
            iterations_done += self.progress_every
            report(progress, 0.05 + 0.95 * iterations_done / total)

        tsne = TSNE(n_iter=total - early, early_exaggeration_iter=early, negative_gradient_method="auto",
                    n_jobs=self.n_jobs, random_state=self.params["seed"],
                    callbacks=on_iterations if progress else None, callbacks_every_iters=self.progress_every)
        embedding = np.asarray(tsne.fit(codes, affinities=self.affinities, initialization="pca"), dtype=np.float64)
        # centred as openTSNE's transform centres its reference map, so placed points line up
        return embedding - (embedding.max(0) + embedding.min(0)) / 2

    def restore(self, codes, coords, state):
        self.affinities = None  # rebuilt from the codes when first needed
        super().restore(codes, coords, state)

    def attach(self, codes, coords):
        super().attach(codes, coords)
        self.placer = None  # any earlier one placed points on another map

    def prepare(self):
        from openTSNE import TSNEEmbedding

        codes = self.fitted_codes()
        with self.lock:
            if self.placer is not None:
                return
            if self.affinities is None:
                self.affinities = self.make_affinities(codes)
            # FFT gradients reuse one interpolation grid over the fixed map for every
            # placement, whatever method the fit used
            self.placer = TSNEEmbedding(self.coords.copy(), self.affinities, negative_gradient_method="fft",
                                        random_state=self.params["seed"], n_jobs=1)

    def transform(self, codes):
        codes = self.new_codes(codes)
        self.prepare()
        with self.lock, one_openmp_thread():
            return np.asarray(self.placer.transform(codes), dtype=np.float64)


class UMAPProjection(NeighbourMap):
    """umap-learn on exact neighbours; new points are placed against the fixed map."""

    method, label, heading, axis_names, instant = "umap", "UMAP", "UMAP", ("UMAP 1", "UMAP 2"), False
    inverse_note = "each grid point blends the codes of the nearest map points"
    spread: ClassVar[float] = 1.0  # umap's default scale of the embedded points
    placement_epochs_fraction: ClassVar[float] = 1 / 3  # as umap.transform: a third of the fit's epochs

    def check_size(self, codes):
        super().check_size(codes)
        if len(codes) <= self.params["n_neighbors"]:
            raise ValueError(f"UMAP with {self.params['n_neighbors']} neighbours needs more than that many codes, "
                             f"got {len(codes)}: lower n_neighbors")

    def fit_codes(self, codes, progress):
        import umap

        codes32 = codes.astype(np.float32)
        self.code_index = self.index_codes(codes)
        distances, neighbours = self.code_index.kneighbors(codes32)
        report(progress, 0.1)
        model = umap.UMAP(n_neighbors=self.params["n_neighbors"], min_dist=self.params["min_dist"],
                          n_epochs=self.params["n_epochs"], spread=self.spread, init="pca",
                          random_state=self.params["seed"], n_jobs=1,  # a seed means one thread anyway
                          precomputed_knn=(neighbours.astype(np.int32), distances.astype(np.float32)))
        with warnings.catch_warnings():
            # it warns that its own transform needs a search index; we place points ourselves
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
            model.fit(codes32)
        return model.embedding_.astype(np.float64)

    def index_codes(self, codes: np.ndarray) -> NearestNeighbors:
        """Exact neighbours among the codes: for the fit's graph and to place new points."""
        return NearestNeighbors(n_neighbors=self.params["n_neighbors"]).fit(codes.astype(np.float32))

    def restore(self, codes, coords, state):
        codes = as_codes(codes)
        self.code_index = self.index_codes(codes)
        super().restore(codes, coords, state)

    def attach(self, codes, coords):
        from umap.umap_ import find_ab_params

        super().attach(codes, coords)
        self.a, self.b = find_ab_params(self.spread, self.params["min_dist"])
        self.coords32 = coords.astype(np.float32)

    def transform(self, codes):
        import scipy.sparse
        from umap.layouts import optimize_layout_euclidean
        from umap.umap_ import (compute_membership_strengths, init_graph_transform, make_epochs_per_sample,
                                smooth_knn_dist)

        codes32 = self.new_codes(codes).astype(np.float32)
        k = self.params["n_neighbors"]
        with one_openmp_thread():
            distances, neighbours = self.code_index.kneighbors(codes32)
        distances = distances.astype(np.float32)
        # umap.transform's fuzzy membership of each new point to its neighbours; it lowers the
        # local connectivity by one, so a new point is not forced onto its nearest code
        sigmas, rhos = smooth_knn_dist(distances, float(k), local_connectivity=0.0)
        rows, cols, vals, _ = compute_membership_strengths(neighbours.astype(np.int32), distances, sigmas, rhos,
                                                           bipartite=True)
        graph = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(len(codes32), len(self.coords32)))
        start = init_graph_transform(graph.tocsr(), self.coords32)
        n_epochs = max(1, int(self.params["n_epochs"] * self.placement_epochs_fraction))
        graph.data[graph.data < graph.data.max() / n_epochs] = 0.0  # edges too weak to be sampled
        graph.eliminate_zeros()
        rng_state = np.random.RandomState(self.params["seed"]).randint(-2**31 + 1, 2**31 - 1, 3).astype(np.int64)
        # umap's defaults: repulsion 1, a quarter of the learning rate of 1, 5 negative samples;
        # the map is passed as a copy, as umap.transform does, so it can never move
        placed = optimize_layout_euclidean(
            start, self.coords32.copy(), graph.row, graph.col, n_epochs, len(self.coords32),
            make_epochs_per_sample(graph.data, n_epochs), self.a, self.b, rng_state,
            gamma=1.0, initial_alpha=0.25, negative_sample_rate=5, parallel=False, move_other=False)
        return placed.astype(np.float64)


class LatentPlane(Projection):
    """A 2-d model's latent space is its own map: positions are the codes, both ways exactly."""

    method, label, heading, axis_names = "latent", "latent space", "Latent space", ("z 0", "z 1")
    inverse_note = "each grid point is a latent code"

    def check_size(self, codes):
        super().check_size(codes)
        if codes.shape[1] != 2:
            raise ValueError(f"a latent plane holds 2-d codes, got {codes.shape[1]}-d codes")

    def fit_codes(self, codes, progress):
        return codes.copy()

    def transform(self, codes):
        return self.new_codes(codes).copy()

    def inverse(self, points):
        self.fitted_codes()
        return as_points(points).copy()


PROJECTIONS: dict[str, type[Projection]] = {
    p.method: p for p in (PCAProjection, TSNEProjection, UMAPProjection, LatentPlane)}


def make_projection(method: str, **params) -> Projection:
    method_params(method)
    return PROJECTIONS[method](**params)


def label(method: str) -> str:
    """"t-SNE": how a method is named wherever it is shown."""
    method_params(method)
    return PROJECTIONS[method].label


# --- cached projection --------------------------------------------------------------------
@dataclass
class ProjectionResult:
    coords: np.ndarray  # (N, 2) map position of each code, row-aligned with the codes
    projection: Projection  # ready for transform / inverse
    from_cache: bool  # True when the positions were read from the disk cache
    seconds: float  # wall time of this call


def _entry(codes: np.ndarray, projection: Projection, cache_key_parts: Sequence) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(codes).tobytes()).hexdigest()
    return cache.key(*cache_key_parts, projection.method, projection.params, CACHE_VERSION, list(codes.shape), digest)


def is_cached(codes, method: str, params: dict | None = None, cache_key_parts: Sequence = ()) -> bool:
    """Whether ``project`` would read this map from the disk cache instead of fitting it."""
    codes = as_codes(codes)
    return cache.load(CACHE_KIND, _entry(codes, make_projection(method, **(params or {})), cache_key_parts)) is not None


def project(codes, method: str, params: dict | None = None, cache_key_parts: Sequence = (),
            progress: Progress | None = None) -> ProjectionResult:
    """Map ``codes`` with ``method``, reusing positions cached on disk.

    ``cache_key_parts`` names where the codes came from (checkpoint content hash, dataset
    identity, split); a digest of the codes themselves is added, so a cached map is never
    served for other codes.
    """
    start = time.perf_counter()
    codes = as_codes(codes)
    projection = make_projection(method, **(params or {}))
    entry = _entry(codes, projection, cache_key_parts)
    arrays = cache.load(CACHE_KIND, entry)
    if arrays is not None and "coords" in arrays:
        try:
            projection.restore(codes, arrays.pop("coords"), arrays)
            report(progress, 1.0)
            return ProjectionResult(projection.coords, projection, True, time.perf_counter() - start)
        except (KeyError, ValueError):
            pass  # an entry that does not fit these codes: refit and overwrite it
    coords = projection.fit(codes, progress)
    cache.store(CACHE_KIND, entry, coords=coords, **projection.state())
    return ProjectionResult(coords, projection, False, time.perf_counter() - start)


def warm_up() -> float:
    """Compile umap's numba code on tiny data, so the first real UMAP map does not pay for it
    (about 10 s in a fresh process). Meant for a background thread at server start; returns
    the seconds it took."""
    start = time.perf_counter()
    codes = np.random.default_rng(0).standard_normal((60, 4))
    projection = make_projection("umap", n_neighbors=5, n_epochs=20)
    projection.fit(codes)
    projection.transform(codes[:2])
    return time.perf_counter() - start


# --- maps of up to a million codes ----------------------------------------------------------
SAMPLE_FIT = 100_000  # t-SNE and UMAP are fitted on at most this many codes; the rest are placed
PLACE_BLOCK = 50_000  # codes placed per transform call: bounds the memory of a placement
MAX_MAP_CODES = 2_000_000  # a map of more is refused (its positions alone would be 32 MB a million)
LARGE_CACHE_VERSION = 1  # bump when a change here alters the positions project_large produces


@dataclass
class LargeMap:
    coords: np.ndarray  # (N, 2) map position of every code
    projection: Projection  # fitted on the sample (PCA: on every code), ready for transform / inverse
    sample: np.ndarray  # (S,) indices of the codes the map was fitted on (sorted); the rest were placed
    from_cache: bool  # True when the positions were read from the disk cache
    fit_seconds: float  # fitting the sample (0 on a cache hit)
    place_seconds: float  # placing the rest with transform (0 on a cache hit)
    seconds: float  # wall time of this call

    @property
    def placed(self) -> int:
        return len(self.coords) - len(self.sample)


def stratified_sample(n: int, size: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """At most ``size`` sorted indices of ``n``; with labels, each class keeps its share (at least
    one of every class present), so a rare class is on the map too."""
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(n, size, replace=False))
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(1, np.floor(counts * size / n).astype(np.int64))
    # hand the rounding's leftover to the classes with the largest remainders, within their counts
    for k in np.argsort(-(counts * size / n - np.floor(counts * size / n)))[: max(0, size - quota.sum())]:
        quota[k] = min(counts[k], quota[k] + 1)
    picked = [rng.choice(np.flatnonzero(labels == c), q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picked))


def _large_entry(codes: np.ndarray, projection: Projection, labels: np.ndarray | None, sample_size: int,
                 cache_key_parts: Sequence) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(codes).tobytes()).hexdigest()
    labels_digest = None if labels is None else hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest()
    return cache.key(*cache_key_parts, "large", projection.method, projection.params, LARGE_CACHE_VERSION,
                     CACHE_VERSION, list(codes.shape), digest, sample_size, labels_digest)


def is_large_cached(codes, method: str, params: dict | None = None, labels: np.ndarray | None = None,
                    sample_size: int = SAMPLE_FIT, cache_key_parts: Sequence = ()) -> bool:
    """Whether ``project_large`` would read this map from the disk cache instead of fitting it."""
    entry = _large_entry(as_codes(codes), make_projection(method, **(params or {})), labels, sample_size,
                         cache_key_parts)
    return cache.load(CACHE_KIND, entry) is not None


def project_large(codes, method: str, params: dict | None = None, labels: np.ndarray | None = None,
                  sample_size: int = SAMPLE_FIT, cache_key_parts: Sequence = (), progress: Progress | None = None,
                  block: int = PLACE_BLOCK) -> LargeMap:
    """A map of up to millions of codes: PCA fitted on all of them; t-SNE and UMAP fitted on a
    sample of at most ``sample_size`` (stratified by ``labels`` where given) and the other codes
    placed in the fitted map with ``transform``, ``block`` at a time. Cached on disk like
    ``project`` (keyed by a digest of the codes, the method, its parameters and the sample size)."""
    start = time.perf_counter()
    codes = as_codes(codes)
    if len(codes) > MAX_MAP_CODES:
        raise ValueError(f"a map of {len(codes):,} codes is more than the {MAX_MAP_CODES:,} this app draws")
    projection = make_projection(method, **(params or {}))
    exact = method in ("pca", "latent")  # linear maps: fitted on everything in well under a second a million
    sample = np.arange(len(codes)) if exact else stratified_sample(len(codes), sample_size, labels)
    entry = _large_entry(codes, projection, labels, sample_size, cache_key_parts)
    arrays = cache.load(CACHE_KIND, entry)
    if arrays is not None and {"coords", "sample"} <= set(arrays):
        try:
            coords, cached_sample = arrays.pop("coords"), arrays.pop("sample")
            if not np.array_equal(cached_sample, sample) or coords.shape != (len(codes), 2):
                raise ValueError("cached map of another sample")
            projection.restore(codes[sample], coords[sample], arrays)
            report(progress, 1.0)
            return LargeMap(coords, projection, sample, True, 0.0, 0.0, time.perf_counter() - start)
        except (KeyError, ValueError):
            pass  # refit and overwrite
    fit_share = len(sample) / len(codes) if not exact else 1.0
    coords = np.empty((len(codes), 2), dtype=np.float64)
    coords[sample] = projection.fit(codes[sample], None if progress is None else
                                    (lambda f: report(progress, f * (0.3 + 0.7 * fit_share))))
    fit_seconds = time.perf_counter() - start
    rest = np.setdiff1d(np.arange(len(codes)), sample, assume_unique=True)
    for first in range(0, len(rest), block):
        rows = rest[first: first + block]
        coords[rows] = projection.transform(codes[rows])
        report(progress, 0.3 + 0.7 * fit_share + (1 - 0.3 - 0.7 * fit_share) * (first + len(rows)) / len(rest))
    place_seconds = time.perf_counter() - start - fit_seconds
    cache.store(CACHE_KIND, entry, coords=coords, sample=sample, **projection.state())
    return LargeMap(coords, projection, sample, False, fit_seconds, place_seconds, time.perf_counter() - start)
