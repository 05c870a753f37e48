"""Timing of the map-fidelity figures at 5,000 points and of the representation-quality figures.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_quality.py
Uses a shipped checkpoint's MNIST codes and their PCA map; nothing is read from the cache.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["LATENT_EXPLORER_CACHE"] = tempfile.mkdtemp(prefix="bench-quality-")  # every figure computed afresh

import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from explorer import checkpoint, quality  # noqa: E402
from explorer.engine import InferenceEngine  # noqa: E402
from explorer.data import load_mnist  # noqa: E402


def timed(label: str, fn, repeats: int = 3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    print(f"{label:<52} median {np.median(times):6.2f} s  (min {min(times):.2f}, {repeats} runs)")
    return result


def main() -> None:
    dataset = load_mnist()
    ckpt = checkpoint.load(ROOT / "checkpoints" / "mnist-ae")
    codes = InferenceEngine(ckpt).encode(dataset.x)
    map_2d = PCA(2).fit_transform(codes)
    print(f"{len(codes)} MNIST codes of size {codes.shape[1]} ({ckpt.name}), PCA map")
    fidelity = timed(f"map fidelity at {quality.MAP_SAMPLE} points, k={quality.MAP_K}",
                     lambda: quality.map_fidelity(codes, map_2d))
    print(f"  trustworthiness {fidelity.trustworthiness:.3f}  continuity {fidelity.continuity:.3f}  "
          f"10-NN recall {fidelity.recall:.3f}")
    train, test = quality.quality_splits(dataset)
    split = (codes[train], dataset.y[train], codes[test], dataset.y[test])
    figures = timed("representation quality, 16-d codes (kNN, 3 probes, k-means)",
                    lambda: quality.representation_quality(*split), repeats=1)
    print("  " + "  ".join(f"{k} {v:.3f}" for k, v in figures.as_dict().items()))
    timed("representation quality, raw pixels (784-d)", lambda: quality.pixel_quality(dataset), repeats=1)
    timed("  the same, read back from the cache", lambda: quality.pixel_quality(dataset))


if __name__ == "__main__":
    main()
