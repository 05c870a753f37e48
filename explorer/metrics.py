"""Reconstruction quality: per-sample MSE / PSNR / SSIM, the PCA baseline, anomaly ROC AUC."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import structural_similarity
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score, roc_curve

from .data import subsample


def per_sample_mse(x: np.ndarray, recon: np.ndarray) -> np.ndarray:
    return ((x - recon) ** 2).reshape(len(x), -1).mean(1)


def psnr(mse: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    return 10 * np.log10(data_range**2 / np.maximum(mse, 1e-12))


def per_sample_ssim(x: np.ndarray, recon: np.ndarray) -> np.ndarray:
    """SSIM of each (C, H, W) pair; the window shrinks to fit small images (7 -> odd side)."""
    _, c, h, w = x.shape
    win = min(7, h, w)
    win -= 1 - win % 2
    return np.array([
        structural_similarity(a, b, data_range=1.0, win_size=win, channel_axis=0 if c > 1 else None)
        for a, b in zip(x if c > 1 else x[:, 0], recon if c > 1 else recon[:, 0])
    ])


def summary(x: np.ndarray, recon: np.ndarray) -> dict[str, float]:
    mse = per_sample_mse(x, recon)
    return {"mse": float(mse.mean()), "psnr": float(psnr(mse).mean()), "ssim": float(per_sample_ssim(x, recon).mean())}


PCA_FIT_SIZE = 4000  # training images a PCA baseline is fitted on (all of MNIST's 4,000; a sample of larger sets)


def pca_fit_images(dataset, exclude_class: int | None = None, seed: int = 0) -> np.ndarray:
    """The training images (without one class if asked) a PCA baseline of ``dataset`` is fitted on:
    a full SVD of 40,000 colour 64x64 images would take minutes and gigabytes. Another ``seed``
    draws another sample from a training split larger than PCA_FIT_SIZE (the same one otherwise)."""
    return dataset.x[subsample(dataset.train_indices(exclude_class), PCA_FIT_SIZE, seed=seed)]


class PCABaseline:
    """PCA with k components: the linear autoencoder every model must beat."""

    def __init__(self, k: int, train: np.ndarray):
        self.shape = train.shape[1:]
        flat = train.reshape(len(train), -1)
        self.pca = PCA(n_components=min(k, *flat.shape), svd_solver="full").fit(flat)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.pca.transform(x.reshape(len(x), -1))

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        flat = self.pca.inverse_transform(self.encode(x))
        return flat.reshape(len(x), *self.shape).clip(0, 1).astype(np.float32)


def anomaly_roc(errors: np.ndarray, is_anomaly: np.ndarray) -> dict:
    """ROC of reconstruction error as an anomaly score."""
    fpr, tpr, thresholds = roc_curve(is_anomaly, errors)
    return {"auc": float(roc_auc_score(is_anomaly, errors)), "fpr": fpr, "tpr": tpr, "thresholds": thresholds}


def error_percentile(errors: np.ndarray, value: float) -> float:
    """Share of ``errors`` (in percent) at or below ``value``: where one image's error falls."""
    errors = np.asarray(errors)
    return float(100.0 * np.count_nonzero(errors <= value) / max(len(errors), 1))


@dataclass
class ThresholdReport:
    threshold: float
    flagged: np.ndarray  # positions (into the errors given) above the threshold, worst first
    total: int

    @property
    def count(self) -> int:
        return len(self.flagged)

    @property
    def share(self) -> float:
        return self.count / max(self.total, 1)


def flag_above(errors: np.ndarray, threshold: float) -> ThresholdReport:
    """Which errors exceed ``threshold``, sorted worst first."""
    errors = np.asarray(errors)
    above = np.flatnonzero(errors > threshold)
    return ThresholdReport(float(threshold), above[np.argsort(-errors[above], kind="stable")], len(errors))


@dataclass
class AnomalyReport:
    anomaly_class: int
    is_anomaly: np.ndarray  # (N,) 1 for test images of the held-out class
    model: dict  # anomaly_roc of the model's errors
    pca: dict  # anomaly_roc of PCA's errors at the same latent size
    pca_errors: np.ndarray  # (N,) PCA's reconstruction error per test image


def anomaly_report(model_errors: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, x_normal: np.ndarray,
                   anomaly_class: int, latent_dim: int) -> AnomalyReport:
    """How well reconstruction error finds the class a model never saw, beside PCA.

    PCA is fitted on ``x_normal``, the training images the model learned from (the training
    split without that class: ``Dataset.train_indices(anomaly_class)``), at the model's latent
    size, so both detectors learned "normal" from the same images.
    """
    is_anomaly = (np.asarray(y_test) == anomaly_class).astype(int)
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError(f"the test split needs images both of class {anomaly_class} and of other classes")
    pca = PCABaseline(latent_dim, x_normal)
    pca_errors = per_sample_mse(x_test, pca.reconstruct(x_test))
    return AnomalyReport(anomaly_class, is_anomaly, anomaly_roc(model_errors, is_anomaly),
                         anomaly_roc(pca_errors, is_anomaly), pca_errors)
