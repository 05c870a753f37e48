"""What a representation learned, and how far a 2-D map of it can be trusted.

Representation quality (codes of the held-out split against codes of the training split):
5-NN label accuracy, linear-probe accuracy with few and all labels, k-means NMI / ARI. The
same figures for PCA codes and raw pixels are the baselines every model is read against.

Map fidelity (codes against their 2-D map, on a fixed sample): trustworthiness and continuity
(Venna & Kaski 2001) and the share of each point's nearest neighbours the map keeps.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.preprocessing import StandardScaler

from . import cache, metrics
from .data import Dataset, subsample

PROBE_LABELS_PER_CLASS = (10, 100, None)  # None: every training label
KNN_K = 5
MAP_K = 10
MAP_SAMPLE = 5000
# Images the figures are measured on: all of MNIST's 4,000 / 1,000, a seeded sample of larger sets
# (logistic regression on 40,000 raw 64x64 colour images would take many minutes).
QUALITY_TRAIN_SIZE = 4000
QUALITY_TEST_SIZE = 1000
# Raw pixels of larger images are measured only when asked for: their probes and k-means took 45 s on
# 2 cores for 64x64 colour images (12,288 values each), the three shapes VAEs' rows and PCA's 10 s.
PIXELS_ON_REQUEST_ABOVE = 4096
# Bump when a figure's definition changes, so cached figures are recomputed.
QUALITY_VERSION = 1


@dataclass
class RepresentationQuality:
    knn_accuracy: float  # 5-NN label accuracy of test codes against train codes
    probe_10: float  # logistic regression on standardised codes, 10 labels per class
    probe_100: float  # ... 100 labels per class
    probe_all: float  # ... every training label
    nmi: float  # k-means (one cluster per class) on test codes vs labels
    ari: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def knn_accuracy(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
                 test_labels: np.ndarray, k: int = KNN_K) -> float:
    classifier = KNeighborsClassifier(n_neighbors=min(k, len(train_codes))).fit(train_codes, train_labels)
    return float((classifier.predict(test_codes) == test_labels).mean())


def labelled_subset(labels: np.ndarray, per_class: int | None, seed: int) -> np.ndarray:
    """Indices of ``per_class`` labels of each class (all of them for None), drawn with ``seed``."""
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def probe_accuracy(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
                   test_labels: np.ndarray, per_class: int | None = None, seed: int = 0) -> float:
    """Accuracy of a logistic regression trained on ``per_class`` labels per class.

    The scaler is fitted on every training code: codes are free, labels are what is scarce.
    """
    scaler = StandardScaler().fit(train_codes)
    picked = labelled_subset(train_labels, per_class, seed)
    probe = LogisticRegression(max_iter=2000).fit(scaler.transform(train_codes[picked]), train_labels[picked])
    return float((probe.predict(scaler.transform(test_codes)) == test_labels).mean())


def clustering_scores(codes: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """NMI and ARI of k-means with one cluster per class against the labels."""
    clusters = KMeans(n_clusters=len(np.unique(labels)), n_init=10, random_state=seed).fit_predict(codes)
    return (float(normalized_mutual_info_score(labels, clusters)), float(adjusted_rand_score(labels, clusters)))


def representation_quality(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
                           test_labels: np.ndarray, seed: int = 0) -> RepresentationQuality:
    train_codes, test_codes = (np.asarray(c, dtype=np.float64).reshape(len(c), -1) for c in (train_codes, test_codes))
    probes = [probe_accuracy(train_codes, train_labels, test_codes, test_labels, n, seed) for n in PROBE_LABELS_PER_CLASS]
    nmi, ari = clustering_scores(test_codes, test_labels, seed)
    return RepresentationQuality(knn_accuracy(train_codes, train_labels, test_codes, test_labels), *probes, nmi, ari)


def quality_splits(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices the figures are measured on."""
    if dataset.y is None:
        raise ValueError(f"{dataset.name} has no labels: representation quality needs them")
    return subsample(dataset.train_idx, QUALITY_TRAIN_SIZE), subsample(dataset.test_idx, QUALITY_TEST_SIZE)


def cached_quality(what: tuple, dataset: Dataset, codes_of, compute: bool = True) -> RepresentationQuality | None:
    """Figures for ``what`` on ``dataset``, computed once; ``codes_of(indices)`` gives those
    images' (n, D) codes. With ``compute`` False, None when they are not cached yet."""
    entry = cache.key("quality", QUALITY_VERSION, QUALITY_TRAIN_SIZE, QUALITY_TEST_SIZE, *what, dataset.identity)
    hit = cache.load("quality", entry)
    if hit is not None:
        return RepresentationQuality(**{k: float(v) for k, v in hit.items()})
    if not compute:
        return None
    train, test = quality_splits(dataset)
    result = representation_quality(codes_of(train), dataset.y[train], codes_of(test), dataset.y[test])
    cache.store("quality", entry, **{k: np.array(v) for k, v in result.as_dict().items()})
    return result


def model_quality(content_hash: str, dataset: Dataset, codes) -> RepresentationQuality:
    """A model's figures, cached under its content hash. ``codes`` is the (N, D) codes of the
    whole dataset, or a function giving the codes of the images at some indices (only the
    sampled images are then encoded, and none on a cache hit)."""
    return cached_quality(("model", content_hash), dataset, codes if callable(codes) else lambda idx: codes[idx])


def pca_quality(dataset: Dataset, latent_dim: int,
                fitted: Callable[[], metrics.PCABaseline] | None = None) -> RepresentationQuality:
    """The same figures on PCA codes of that size, PCA fitted on the training split (by
    ``fitted()`` when given: a fit the caller keeps, made only when the figures are not cached)."""
    @functools.cache
    def fit() -> metrics.PCABaseline:
        return fitted() if fitted else metrics.PCABaseline(latent_dim, metrics.pca_fit_images(dataset))

    return cached_quality(("pca", latent_dim), dataset, lambda idx: fit().encode(dataset.x[idx]))


def pixel_quality(dataset: Dataset, compute: bool = True) -> RepresentationQuality | None:
    """The same figures on raw pixels: what any code has to beat to be worth having (None when
    not cached and ``compute`` is False)."""
    return cached_quality(("pixels",), dataset, lambda idx: dataset.x[idx].reshape(len(idx), -1), compute)


def pixels_on_request(dataset: Dataset) -> bool:
    """Whether raw pixels are measured only when asked for: images of more than
    PIXELS_ON_REQUEST_ABOVE values, whose figures are not cached yet."""
    return int(np.prod(dataset.input_shape)) > PIXELS_ON_REQUEST_ABOVE and pixel_quality(dataset, False) is None


def comparison_rows(models: list[tuple[str, int, str, Callable]], dataset: Dataset, pixels: bool = True,
                    pca_for: Callable[[int], metrics.PCABaseline] | None = None) -> list[dict]:
    """Compare's table: one row per model, given as (name, code size, content hash,
    codes_of(indices)), then PCA at each of their code sizes (fitted by ``pca_for(k)`` when
    given), then raw pixels unless ``pixels`` is False; every row's figures measured on the
    quality sample (quality_splits) and cached on disk by model and data content, so a second
    visit reads them back."""
    rows = [{"representation": name, "code size": size, **model_quality(content_hash, dataset, codes_of).as_dict()}
            for name, size, content_hash, codes_of in models]
    rows += [{"representation": f"PCA (k={k})", "code size": k,
              **pca_quality(dataset, k, (lambda k=k: pca_for(k)) if pca_for else None).as_dict()}
             for k in sorted({size for _, size, _, _ in models})]
    if pixels:
        rows.append({"representation": "raw pixels", "code size": int(np.prod(dataset.input_shape)),
                     **pixel_quality(dataset).as_dict()})
    return rows


# --- map fidelity -----------------------------------------------------------------------
@dataclass
class MapFidelity:
    trustworthiness: float  # 1: no map neighbour is far apart in the code space
    continuity: float  # 1: no code neighbour is torn apart on the map
    recall: float  # mean share of each code's k nearest neighbours that are among its map neighbours
    recall_per_point: np.ndarray  # (n,) that share for each sampled point
    sample: np.ndarray  # (n,) indices of the sampled points into the arrays given
    k: int


def fidelity_sample(n: int, size: int = MAP_SAMPLE, seed: int = 0) -> np.ndarray:
    """A fixed, sorted sample of at most ``size`` of ``n`` points (all of them when n <= size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def nearest_neighbours(points: np.ndarray, k: int) -> np.ndarray:
    """(n, k) indices of each point's k nearest other points."""
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(return_distance=False)
    return neighbours[:, :k]


def ranks_of(points: np.ndarray, neighbours: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Rank (1 = nearest, self excluded) of each ``neighbours[i, j]`` among all points seen from i.

    Counts closer points row by row instead of sorting every row: O(n^2 k) compares, no sort.
    """
    points = np.asarray(points, dtype=np.float64)
    squared = (points**2).sum(1)
    ranks = np.empty(neighbours.shape, dtype=np.int64)
    for start in range(0, len(points), chunk):
        rows = np.arange(start, min(start + chunk, len(points)))
        dist = squared[rows, None] + squared[None, :] - 2 * points[rows] @ points.T
        dist[np.arange(len(rows)), rows] = np.inf  # a point is not its own neighbour
        to_neighbour = np.take_along_axis(dist, neighbours[rows], axis=1)
        ranks[rows] = (dist[:, None, :] < to_neighbour[:, :, None]).sum(2) + 1
    return ranks


def trustworthiness(high: np.ndarray, low: np.ndarray, k: int = MAP_K,
                    low_neighbours: np.ndarray | None = None) -> float:
    """Venna & Kaski's trustworthiness of the map ``low`` of ``high`` (as scikit-learn defines it)."""
    n = len(high)
    if not 1 <= k < n / 2:
        raise ValueError(f"k must be at least 1 and below half the points ({n}), got {k}")
    neighbours = nearest_neighbours(low, k) if low_neighbours is None else low_neighbours
    intruding = np.maximum(ranks_of(high, neighbours) - k, 0).sum()
    return float(1 - 2 / (n * k * (2 * n - 3 * k - 1)) * intruding)


def map_fidelity(codes: np.ndarray, map_2d: np.ndarray, k: int = MAP_K, sample_size: int = MAP_SAMPLE,
                 seed: int = 0) -> MapFidelity:
    """Trustworthiness, continuity and k-NN recall of a map, on a fixed sample of its points."""
    sample = fidelity_sample(len(codes), sample_size, seed)
    high = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)[sample]
    low = np.asarray(map_2d, dtype=np.float64)[sample]
    high_nn, low_nn = nearest_neighbours(high, k), nearest_neighbours(low, k)
    kept = (high_nn[:, :, None] == low_nn[:, None, :]).any(2).mean(1)
    return MapFidelity(trustworthiness(high, low, k, low_nn), trustworthiness(low, high, k, high_nn),
                       float(kept.mean()), kept, sample, k)
