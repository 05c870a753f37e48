"""Reconstruction quality: per-sample MSE / PSNR / SSIM, the PCA baseline, anomaly ROC AUC."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh
from scipy.sparse.linalg import eigsh
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
        flat = np.asarray(train).reshape(len(train), -1)
        k = min(k, *flat.shape)
        if flat.shape[1] > flat.shape[0]:  # more pixels than images (64x64 colour): through the images' Gram matrix
            self.mean, self.components = top_components(flat, k)
        else:
            pca = PCA(n_components=k, svd_solver="full").fit(flat)
            self.mean, self.components = pca.mean_, pca.components_

    def encode(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x).reshape(len(x), -1) - self.mean) @ self.components.T

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        flat = self.encode(x) @ self.components + self.mean
        return flat.reshape(len(x), *self.shape).clip(0, 1).astype(np.float32)


def top_components(flat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, (k, P) principal axes) of N images of P > N pixels: exactly PCA's, from the
    eigenvectors of the (N, N) Gram matrix of the centred images. A full SVD of 4,000 images of
    12,288 pixels took 80-190 s on 2 cores; this takes a few seconds. Signs as scikit-learn's PCA sets
    them (each axis's largest entry positive), so both routes give the same codes."""
    mean = flat.mean(0, dtype=np.float64).astype(np.float32)
    centred = (flat - mean).astype(np.float32)
    gram = (centred @ centred.T).astype(np.float64)  # one symmetric product (BLAS syrk)
    n = len(gram)
    if k < n - 1:  # Lanczos to machine precision (tol=0), from a fixed start: 2 s where a full eigh took 68
        values, vectors = eigsh(gram, k=k, which="LA", tol=0, v0=np.ones(n))
    else:
        values, vectors = eigh(gram, subset_by_index=[n - k, n - 1])
    order = np.argsort(values)[::-1]
    values, vectors = np.maximum(values[order], 1e-12), vectors[:, order]
    axes = (vectors.T @ centred.astype(np.float64)) / np.sqrt(values)[:, None]
    largest = np.abs(axes).argmax(1)
    axes *= np.sign(axes[np.arange(k), largest])[:, None]
    return mean, axes.astype(np.float32)


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
