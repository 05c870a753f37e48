"""Reconstruction quality: per-sample MSE / PSNR / SSIM, the PCA baseline, anomaly ROC AUC."""
from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score, roc_curve


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


class PCABaseline:
    """PCA with k components: the linear autoencoder every model must beat."""

    def __init__(self, k: int, train: np.ndarray):
        self.shape = train.shape[1:]
        flat = train.reshape(len(train), -1)
        self.pca = PCA(n_components=min(k, *flat.shape), random_state=0).fit(flat)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.pca.transform(x.reshape(len(x), -1))

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        flat = self.pca.inverse_transform(self.encode(x))
        return flat.reshape(len(x), *self.shape).clip(0, 1).astype(np.float32)


def anomaly_roc(errors: np.ndarray, is_anomaly: np.ndarray) -> dict:
    """ROC of reconstruction error as an anomaly score."""
    fpr, tpr, thresholds = roc_curve(is_anomaly, errors)
    return {"auc": float(roc_auc_score(is_anomaly, errors)), "fpr": fpr, "tpr": tpr, "thresholds": thresholds}
