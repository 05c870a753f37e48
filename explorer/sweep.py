"""The latent-size trade-off: one model per code size with one recipe, PCA at each size.

A sweep folder holds a checkpoint per family and size (``<family>-<size>/``) and ``sweep.json``,
the summary the Compare page reads. Sweeping a second family into the same folder adds it to
the summary; PCA is evaluated for every size any family has.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt
from . import metrics
from .cache import atomic_write
from .data import Dataset
from .train import TrainConfig, evaluate, train

SUMMARY_NAME = "sweep.json"


def checkpoint_name(model_type: str, latent_dim: int) -> str:
    return f"{model_type}-{latent_dim}"


def read_summary(folder: str | Path) -> dict | None:
    """The sweep summary in ``folder``, or None when there is none."""
    path = Path(folder) / SUMMARY_NAME
    return json.loads(path.read_text()) if path.exists() else None


def pca_curve(dataset: Dataset, latent_dims: list[int]) -> list[dict]:
    """Test MSE of PCA fitted on the training split, at each size."""
    x_train, _ = dataset.split("train")
    x_test, _ = dataset.split("test")
    return [{"latent_dim": d, "test_mse": round(float(
        metrics.per_sample_mse(x_test, metrics.PCABaseline(d, x_train).reconstruct(x_test)).mean()), 6)}
        for d in sorted(latent_dims)]


def run_sweep(model_type: str, model_args: dict, dataset: Dataset, latent_dims: list[int], out: str | Path,
              cfg: TrainConfig, progress: bool = True) -> dict:
    """Train ``model_type`` at every size in ``latent_dims`` into ``out``; returns the updated summary."""
    if not latent_dims or any(d < 1 for d in latent_dims):
        raise ValueError(f"latent sizes must be positive, got {latent_dims}")
    out = Path(out)
    summary = read_summary(out) or {"families": {}}
    if summary.get("dataset", {}).get("identity", dataset.identity) != dataset.identity:
        raise ValueError(f"{out} holds a sweep on another dataset ({summary['dataset']['name']})")
    points = []
    for i, d in enumerate(sorted(set(latent_dims))):
        if progress:
            print(f"== {model_type} latent {d} ({i + 1}/{len(set(latent_dims))})", flush=True)
        started = time.perf_counter()
        model, record = train(model_type, {**model_args, "latent_dim": d}, dataset, cfg, progress=progress)
        record.update(evaluate(model, dataset))
        name = checkpoint_name(model_type, d)
        ckpt.save(model, out / name, {"name": f"sweep {name}", "dataset": dataset.describe(), "training": record})
        points.append({"latent_dim": d, "checkpoint": name, "test_mse": record["test_mse"],
                       "pca_mse": record["pca_mse"], "mse_vs_pca": record["mse_vs_pca"],
                       "parameters": model.num_parameters(),
                       "train_seconds": round(time.perf_counter() - started, 1)})
    summary["dataset"] = {**dataset.describe(), "identity": dataset.identity}
    summary["families"][model_type] = {"model": model_args, "training": asdict(cfg), "points": points}
    all_dims = {p["latent_dim"] for family in summary["families"].values() for p in family["points"]}
    summary["pca"] = pca_curve(dataset, sorted(all_dims))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / SUMMARY_NAME, (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def knee(latent_dims: list[int], mse: list[float]) -> int:
    """The size after which a larger code buys least: the point farthest below the chord.

    Kneedle (Satopää et al. 2011) on log-size, both axes scaled to [0, 1]; the curve is assumed
    to fall with size, as a reconstruction error does.
    """
    if len(latent_dims) != len(mse) or not latent_dims:
        raise ValueError("need one MSE per latent size, and at least one size")
    order = np.argsort(latent_dims)
    x = np.log(np.asarray(latent_dims, dtype=float)[order])
    y = np.asarray(mse, dtype=float)[order]
    if len(x) < 3:
        return int(np.asarray(latent_dims)[order][0])
    x = (x - x[0]) / (x[-1] - x[0])
    y = (y - y.min()) / max(float(np.ptp(y)), 1e-12)
    # distance below the straight line from the first point to the last, for a falling curve
    below_chord = (y[0] + (y[-1] - y[0]) * x) - y
    return int(np.asarray(latent_dims)[order][int(np.argmax(below_chord))])
