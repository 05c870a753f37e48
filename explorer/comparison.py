"""Several checkpoints, and PCA at each of their latent sizes, on the same images."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .disentangle import METRICS
from .engine import InferenceEngine
from .metrics import PCABaseline, per_sample_mse, per_sample_ssim
from .models.variants import corrupt

RECORDED_METRICS = ("test_mse", "test_psnr", "test_ssim", "pca_mse", "mse_vs_pca")


@dataclass
class Row:
    name: str  # checkpoint name, or "PCA (k=…)"
    latent_dim: int
    reconstructions: np.ndarray  # (N, C, H, W)
    mse: np.ndarray  # (N,) against the clean originals
    ssim: np.ndarray  # (N,) against the clean originals


@dataclass
class Comparison:
    originals: np.ndarray  # (N, C, H, W) clean inputs
    inputs: np.ndarray  # what every model was fed: the originals, noised when noise_level > 0
    noise_level: float
    rows: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # checkpoints left out, with why


def random_indices(pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` distinct entries of ``pool`` (or all of it), the same ones for the same seed."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))


def add_noise(x: np.ndarray, level: float, seed: int) -> np.ndarray:
    """Gaussian noise of std ``level``, clipped to [0, 1]; the same noise for the same seed."""
    if level <= 0:
        return x
    generator = torch.Generator().manual_seed(seed)
    return corrupt(torch.from_numpy(np.ascontiguousarray(x)), "gaussian", level, generator).numpy()


def compare(originals: np.ndarray, engines: list[InferenceEngine], pca_for: Callable[[int], PCABaseline],
            noise_level: float = 0.0, seed: int = 0) -> Comparison:
    """Reconstruct the same (optionally noised) inputs with every engine that fits them and with
    PCA at each distinct latent size; scores always compare with the clean originals."""
    originals = np.asarray(originals, dtype=np.float32)
    result = Comparison(originals, add_noise(originals, noise_level, seed), noise_level)
    seen: set[str] = set()
    for engine in engines:
        if engine.source.content_hash in seen:
            continue  # the same weights picked twice (e.g. by name and by path)
        seen.add(engine.source.content_hash)
        if list(engine.input_shape) != list(originals.shape[1:]):
            result.skipped.append(f"{engine.source.name} expects images of shape {list(engine.input_shape)}, "
                                  f"but these are {list(originals.shape[1:])}: skipped")
            continue
        result.rows.append(score(engine.source.name, engine.latent_dim, originals,
                                 engine.reconstruct(result.inputs)))
    for k in sorted({row.latent_dim for row in result.rows}):
        result.rows.append(score(f"PCA (k={k})", k, originals, pca_for(k).reconstruct(result.inputs)))
    return result


def score(name: str, latent_dim: int, originals: np.ndarray, reconstructions: np.ndarray) -> Row:
    return Row(name, latent_dim, reconstructions, per_sample_mse(originals, reconstructions),
               per_sample_ssim(originals, reconstructions))


def recorded_metrics(engines: list[InferenceEngine]) -> list[dict]:
    """Each checkpoint's test metrics as recorded when it was trained (missing ones are None)."""
    rows = []
    for engine in engines:
        training = engine.source.training
        rows.append({"checkpoint": engine.source.name, "type": engine.source.model_type,
                     "latent": engine.latent_dim, **{k: training.get(k) for k in RECORDED_METRICS}})
    return rows


def recorded_disentanglement(engines: list[InferenceEngine]) -> list[dict]:
    """MIG / DCI / SAP recorded at training for the checkpoints that have them, each followed by
    PCA's at its latent size (same held-out images); [] when none was scored against factors."""
    rows = []
    for engine in engines:
        training = engine.source.training
        if training.get("mig") is None:
            continue
        for name, prefix in ((engine.source.name, ""), (f"PCA (k={engine.latent_dim})", "pca_")):
            rows.append({"model": name, **{m.key: training.get(prefix + m.key) for m in METRICS}})
    return rows


def per_image_scores(comparison: Comparison, image_names: list[str]) -> list[dict]:
    """One record per (model, image): the table behind the rows of pictures."""
    return [{"model": row.name, "latent": row.latent_dim, "image": name, "mse": float(m), "ssim": float(s)}
            for row in comparison.rows for name, m, s in zip(image_names, row.mse, row.ssim)]
