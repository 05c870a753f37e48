"""How typical one image is for a model: where its code falls among the training codes, and
where its reconstruction error falls among held-out images' errors.

Reconstruction error alone is not enough: a near-empty picture reconstructs well whatever it
shows. A code far from every training code is unlike the training data even when the decoder
happens to redraw it well. Both figures are percentiles among held-out (test) images, which the
model did not train on, so a typical new digit scores like any test digit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.data import subsample
from explorer.metrics import error_percentile

NEIGHBOURS = 10  # mean distance to this many nearest training codes: local sparsity, not one outlier
# A reference of a large dataset (a store of a million codes) is measured on seeded samples, so its
# one-off cost stays bounded: 10,000 test codes against 50,000 training codes (5e8 distances, seconds).
REFERENCE_TRAIN_MAX = 50_000
REFERENCE_TEST_MAX = 10_000
UNUSUAL = 95.0  # percentile among test images from which an image is called unusual
UNLIKE = 99.5  # ... and from which it is called unlike the training data


@dataclass(frozen=True)
class Reference:
    """Training codes to measure against, and the held-out figures that calibrate them."""
    train_codes: np.ndarray  # (N, D)
    test_distances: np.ndarray  # (M,) each test code's mean distance to its nearest training codes
    test_errors: np.ndarray  # (M,) each test image's reconstruction error


@dataclass(frozen=True)
class Verdict:
    distance: float  # mean distance to the nearest training codes
    distance_percentile: float  # share of test images (percent) whose codes lie at least as close
    error: float
    error_percentile: float  # share of test images (percent) reconstructed at least as well
    label: str  # "typical", "unusual" or "unlike the training data"

    @property
    def flagged(self) -> bool:
        return self.label == "unlike the training data"

    def explanation(self) -> str:
        """The verdict in one plain sentence, with the numbers behind it."""
        return (f"**{self.label.capitalize()}**: its code lies farther from its nearest training codes than "
                f"{self.distance_percentile:.1f}% of test images' codes do, and it reconstructs worse than "
                f"{self.error_percentile:.1f}% of them.")


def knn_distances(codes: np.ndarray, reference: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Mean Euclidean distance from each of ``codes`` (M, D) to its ``k`` nearest of ``reference`` (N, D)."""
    codes, reference = np.atleast_2d(codes).astype(np.float64), np.asarray(reference, dtype=np.float64)
    k = max(1, min(k, len(reference)))
    out = np.empty(len(codes))
    for start in range(0, len(codes), 512):  # bounded memory: 512 x N distances at a time
        block = codes[start: start + 512]
        squared = (block**2).sum(1)[:, None] - 2 * block @ reference.T + (reference**2).sum(1)[None]
        nearest = np.partition(np.maximum(squared, 0), k - 1, axis=1)[:, :k]
        out[start: start + 512] = np.sqrt(nearest).mean(1)
    return out


def reference_from(codes: np.ndarray, errors: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray) -> Reference:
    """A reference from a dataset's codes and errors and its train/test split (seeded samples of
    at most REFERENCE_TRAIN_MAX and REFERENCE_TEST_MAX of them)."""
    train_idx, test_idx = subsample(train_idx, REFERENCE_TRAIN_MAX), subsample(test_idx, REFERENCE_TEST_MAX)
    train = np.asarray(codes)[train_idx]
    return Reference(train, knn_distances(np.asarray(codes)[test_idx], train), np.asarray(errors)[test_idx])


def judge(reference: Reference, code: np.ndarray, error: float) -> Verdict:
    """The verdict on one code (D,) and its reconstruction error: the worse of the two percentiles decides."""
    distance = float(knn_distances(code, reference.train_codes)[0])
    distance_pct = error_percentile(reference.test_distances, distance)  # the same rule for any score
    error_pct = error_percentile(reference.test_errors, error)
    worst = max(distance_pct, error_pct)
    label = "unlike the training data" if worst >= UNLIKE else "unusual" if worst >= UNUSUAL else "typical"

    return Verdict(distance, distance_pct, float(error), error_pct, label)
