"""Several checkpoints, and PCA at each of their latent sizes, on the same images."""
from __future__ import annotations

from collections import Counter
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


def distinct(engines: list[InferenceEngine]) -> list[InferenceEngine]:
    """The engines in order, each model once: the same weights picked twice (by name and by
    path) are one row."""
    seen: set[str] = set()
    kept = []
    for engine in engines:
        if engine.source.content_hash not in seen:
            seen.add(engine.source.content_hash)
            kept.append(engine)
    return kept


def display_names(engines: list[InferenceEngine]) -> list[str]:
    """One name per engine, no two alike: a name that several models share (an uploaded ONNX
    export beside its native twin) is followed by each one's source ("mnist-vae · onnx"), and by a
    number where that is shared too ("mnist-vae · native #2")."""
    names = [engine.source.name for engine in engines]
    shared = Counter(names)
    names = [f"{name} · {engine.source.kind}" if shared[name] > 1 else name for name, engine in zip(names, engines)]
    shared, counted = Counter(names), Counter()
    numbered = []
    for name in names:
        counted[name] += 1
        numbered.append(f"{name} #{counted[name]}" if shared[name] > 1 else name)
    return numbered


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
    engines = distinct(engines)
    for engine, name in zip(engines, display_names(engines)):
        if list(engine.input_shape) != list(originals.shape[1:]):
            result.skipped.append(f"{name} expects images of shape {list(engine.input_shape)}, "
                                  f"but these are {list(originals.shape[1:])}: skipped")
            continue
        result.rows.append(score(name, engine.latent_dim, originals, engine.reconstruct(result.inputs)))
    for k in sorted({row.latent_dim for row in result.rows}):
        result.rows.append(score(f"PCA (k={k})", k, originals, pca_for(k).reconstruct(result.inputs)))
    return result


def score(name: str, latent_dim: int, originals: np.ndarray, reconstructions: np.ndarray) -> Row:
    return Row(name, latent_dim, reconstructions, per_sample_mse(originals, reconstructions),
               per_sample_ssim(originals, reconstructions))


def recorded_metrics(engines: list[InferenceEngine]) -> list[dict]:
    """Each checkpoint's test metrics as recorded when it was trained (missing ones are None)."""
    rows = []
    engines = distinct(engines)
    for engine, name in zip(engines, display_names(engines)):
        training = engine.source.training
        rows.append({"checkpoint": name, "type": engine.source.model_type,
                     "latent": engine.latent_dim, **{k: training.get(k) for k in RECORDED_METRICS}})
    return rows


@dataclass
class PCADisentanglement:
    """PCA's disentanglement figures as a checkpoint recorded them: the median over its fits,
    each on another sample of training images (near-equal eigenvalues make PCA's components'
    rotation within their subspace arbitrary, so one fit is one draw), and the range they took."""
    latent_dim: int
    median: dict[str, float | None]  # metric -> the recorded pca_ figure (the median over the fits)
    ranges: dict[str, tuple[float, float]]  # metric -> (lowest, highest) over the fits; {} when one was recorded
    fits: int  # how many fits the median is over (1: a record from before medians)

    @property
    def label(self) -> str:
        return f"PCA (k={self.latent_dim})" + (f", median of {self.fits} fits" if self.fits > 1 else "")


def recorded_disentanglement(engines: list[InferenceEngine]) -> tuple[list[dict], list[PCADisentanglement]]:
    """MIG / DCI / SAP recorded at training for the checkpoints that have them (with each one's
    MIG as a multiple of PCA's median), then PCA's once per distinct baseline (the same held-out
    images and latent size give one row, however many models recorded it); ([], []) when none was
    scored against factors."""
    rows, baselines = [], []
    engines = distinct(engines)
    for engine, name in zip(engines, display_names(engines)):
        training = engine.source.training
        if training.mig is None:
            continue
        keys = [metric.key for metric in METRICS]
        fits = {k: training.fits("pca_" + k) for k in keys}
        baseline = PCADisentanglement(engine.latent_dim, {k: training.get("pca_" + k) for k in keys},
                                      {k: (min(v), max(v)) for k, v in fits.items() if v}, max(len(fits["mig"]), 1))
        if baseline not in baselines:
            baselines.append(baseline)
        rows.append({"model": name, **{k: training.get(k) for k in keys},
                     "mig_vs_pca": training.mig / training.pca_mig if training.pca_mig else None})
    rows += [{"model": b.label, **b.median, "mig_vs_pca": 1.0} for b in baselines]  # the median, 1x itself
    return rows, baselines


def per_image_scores(comparison: Comparison, image_names: list[str]) -> list[dict]:
    """One record per (model, image): the table behind the rows of pictures."""
    return [{"model": row.name, "latent": row.latent_dim, "image": name, "mse": float(m), "ssim": float(s)}
            for row in comparison.rows for name, m, s in zip(image_names, row.mse, row.ssim)]
