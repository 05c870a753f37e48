"""Disentanglement against ground-truth factors: the MI matrix, MIG, DCI and SAP, and the one
table (``METRICS``) that names and explains them wherever they are shown.

Codes are (N, D) floats, factors (N, K) integers. Metrics that fit a predictor take a fitting
part and a held-out part; scores are computed on the held-out one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import entropy
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import balanced_accuracy_score, mutual_info_score

BINS = 20  # equal-width bins per code dimension for the discrete estimates (as disentanglement_lib)


@dataclass(frozen=True)
class Metric:
    key: str  # its key in ``report`` and in a checkpoint's training record (PCA's with "pca_" before it)
    label: str  # its name on the page and in the command line's output
    format: str  # how a score is written (a format spec)
    help: str  # what it measures, in a sentence or two


METRICS = (
    Metric("mig", "MIG", ".3f", "Mutual information gap (Chen et al. 2018): per factor, how much more the best "
                                "dimension knows about it than the second best, as a share of its entropy; "
                                "averaged over factors."),
    Metric("dci_disentanglement", "DCI disentanglement", ".3f",
           "Each dimension informs about one factor (1) or all alike (0); Eastwood & Williams 2018."),
    Metric("dci_completeness", "DCI completeness", ".3f",
           "Each factor is carried by one dimension (1) or spread over all (0)."),
    Metric("dci_informativeness", "DCI informativeness", ".3f",
           "Mean held-out accuracy of predicting the factors from the whole code."),
    Metric("sap", "SAP", ".3f", "Separated attribute predictability (Kumar et al. 2018): per factor, the gap "
                                "between the two single dimensions that predict it best."),
)


def bin_edges(codes: np.ndarray, bins: int = BINS) -> list[np.ndarray]:
    """Inner edges of ``bins`` equal-width bins over each dimension's range."""
    return [np.linspace(lo, hi, bins + 1)[1:-1] for lo, hi in zip(codes.min(0), codes.max(0))]


def discretise(codes: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """(N, D) bin index of each value; values outside the edges' range fall in the end bins."""
    return np.stack([np.digitize(codes[:, d], e) for d, e in enumerate(edges)], axis=1)


def mutual_information(codes: np.ndarray, factors: np.ndarray, bins: int = BINS) -> np.ndarray:
    """(D, K) mutual information in nats between each discretised code dimension and factor."""
    binned = discretise(codes, bin_edges(codes, bins))
    return np.array([[mutual_info_score(factors[:, k], binned[:, d]) for k in range(factors.shape[1])]
                     for d in range(codes.shape[1])])


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """(K,) entropy in nats of each factor's empirical distribution."""
    return np.array([entropy(np.unique(f, return_counts=True)[1]) for f in factors.T])


def normalised_mi(mi: np.ndarray, entropies: np.ndarray) -> np.ndarray:
    """MI as a share of each factor's entropy: 1 where a dimension determines the factor."""
    return mi / np.maximum(entropies, 1e-12)[None, :]


def factor_share(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(D, K) share of each factor's entropy that each code dimension carries."""
    return normalised_mi(mutual_information(codes, factors), factor_entropies(factors))


def dimension_labels(share: np.ndarray, factor_names: list[str]) -> list[str]:
    """For each dimension, the factor it carries most of and how much: "scale · MI 0.61"."""
    return [f"{factor_names[k]} · MI {row[k]:.2f}" for row, k in zip(share, share.argmax(1))]


def mig(mi: np.ndarray, entropies: np.ndarray) -> float:
    """Mutual information gap (Chen et al. 2018): per factor, the gap between the two code
    dimensions that know most about it, as a share of its entropy; averaged over factors."""
    if mi.shape[0] < 2:
        raise ValueError("MIG needs at least two code dimensions")
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / np.maximum(entropies, 1e-12)))


def importance_matrix(codes_fit: np.ndarray, factors_fit: np.ndarray, codes_eval: np.ndarray,
                      factors_eval: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(D, K) importance of each dimension for predicting each factor (a random forest's
    impurity importances, each column summing to 1), and the (K,) held-out accuracies."""
    importances, accuracies = [], []
    for k in range(factors_fit.shape[1]):
        forest = RandomForestClassifier(n_estimators=50, max_features=None, min_samples_leaf=5,
                                        random_state=seed, n_jobs=1)
        forest.fit(codes_fit, factors_fit[:, k])
        importances.append(forest.feature_importances_)
        accuracies.append(forest.score(codes_eval, factors_eval[:, k]))
    return np.abs(np.array(importances).T), np.array(accuracies)


@dataclass
class DCI:
    disentanglement: float  # each dimension informs about one factor (1) or all alike (0)
    completeness: float  # each factor is carried by one dimension (1) or spread over all (0)
    informativeness: float  # mean held-out accuracy of predicting the factors from the code


def dci(importance: np.ndarray, accuracies: np.ndarray) -> DCI:
    """DCI (Eastwood & Williams 2018) from an importance matrix, weighted as in
    disentanglement_lib: dimensions by their share of the importance, factors likewise."""
    d, k = importance.shape
    total = importance.sum()
    weights = importance if total > 0 else np.ones_like(importance)
    per_dim = 1 - entropy(importance.T + 1e-11, base=k) if k > 1 else np.ones(d)
    per_factor = 1 - entropy(importance + 1e-11, base=d) if d > 1 else np.ones(k)
    return DCI(disentanglement=float(np.sum(per_dim * weights.sum(1) / weights.sum())),
               completeness=float(np.sum(per_factor * weights.sum(0) / weights.sum())),
               informativeness=float(np.mean(accuracies)))


def sap_matrix(codes_fit: np.ndarray, factors_fit: np.ndarray, codes_eval: np.ndarray,
               factors_eval: np.ndarray, bins: int = BINS) -> np.ndarray:
    """(D, K) how well each single dimension predicts each factor on held-out codes.

    The predictor is the majority factor value in each of the dimension's bins; its score is
    balanced accuracy adjusted for chance (0 for guessing, 1 for perfect), so that factors
    with many values and factors with few are on one scale.
    """
    edges = bin_edges(codes_fit, bins)
    fit_bins, eval_bins = discretise(codes_fit, edges), discretise(codes_eval, edges)
    scores = np.zeros((codes_fit.shape[1], factors_fit.shape[1]))
    for k in range(factors_fit.shape[1]):
        values = np.unique(factors_fit[:, k])
        if len(values) < 2:
            continue
        fallback = np.bincount(np.searchsorted(values, factors_fit[:, k])).argmax()
        for d in range(codes_fit.shape[1]):
            counts = np.zeros((bins, len(values)), dtype=np.int64)
            np.add.at(counts, (fit_bins[:, d], np.searchsorted(values, factors_fit[:, k])), 1)
            majority = np.where(counts.sum(1) > 0, counts.argmax(1), fallback)
            predicted = values[majority[eval_bins[:, d]]]
            scores[d, k] = balanced_accuracy_score(factors_eval[:, k], predicted, adjusted=True)
    return scores


def sap(scores: np.ndarray) -> float:
    """Separated attribute predictability (Kumar et al. 2018): per factor, the gap between the
    two dimensions that predict it best, averaged over factors."""
    top = np.sort(scores, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def report(codes_fit: np.ndarray, factors_fit: np.ndarray, codes_eval: np.ndarray,
           factors_eval: np.ndarray, seed: int = 0) -> dict[str, float]:
    """MIG (on the held-out codes), DCI and SAP (fitted on one part, scored on the other)."""
    mi = mutual_information(codes_eval, factors_eval)
    scores = dci(*importance_matrix(codes_fit, factors_fit, codes_eval, factors_eval, seed))
    values = {"mig": mig(mi, factor_entropies(factors_eval)), "dci_disentanglement": scores.disentanglement,
              "dci_completeness": scores.completeness, "dci_informativeness": scores.informativeness,
              "sap": sap(sap_matrix(codes_fit, factors_fit, codes_eval, factors_eval))}
    return {metric.key: values[metric.key] for metric in METRICS}
