"""Projection timings: fit, cache hit and placing one point, for PCA, t-SNE and UMAP.

    python -m benchmarks.bench_projection [--sizes 5000 20000] [--checkpoint checkpoints/mnist-ae]

Codes come from the checkpoint (its dataset encoded), else from the first checkpoint under
checkpoints/, else synthetic clustered 16-d codes. A size beyond the dataset tiles it with
noise of 1% of each dimension's spread. Per size and method it prints:
- fit: the first map in this process (umap already compiled by ``warm_up``);
- cache hit: the same call again, read from the disk cache (target <= 1 s);
- 1st place: the first ``transform`` after the cache hit (t-SNE rebuilds its affinities here);
- place: median of one-point ``transform`` calls once warm (target <= 100 ms);
- inverse: median of one-point ``inverse`` calls.
UMAP's numba cold start is measured apart, in fresh processes.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from explorer import projection
from explorer.settings import ENV

ROOT = Path(__file__).resolve().parents[1]

REPEATS = 7  # one-point calls per median
FIT_TARGET_S, PLACE_TARGET_S = 1.0, 0.1

COLD_SCRIPT = """
import sys, time
start = time.perf_counter()
import numpy as np
from explorer import projection
codes = np.load({codes!r})
if {warm}:
    warm = projection.warm_up()
    start = time.perf_counter()
    projection.make_projection("umap").fit(codes)
    print(warm, time.perf_counter() - start)
else:
    projection.make_projection("umap").fit(codes)
    print(time.perf_counter() - start)
"""


def load_codes(checkpoint: str | None) -> tuple[np.ndarray, str]:
    folders = sorted(p for p in (ROOT / "checkpoints").glob("*") if (p / "config.json").is_file())
    path = Path(checkpoint) if checkpoint else (folders[0] if folders else None)
    if path is None:
        rng = np.random.default_rng(0)
        centres = rng.normal(0, 3, (10, 16))
        labels = rng.integers(0, 10, 5000)
        codes = centres[labels] + rng.normal(size=(5000, 16)) * rng.uniform(0.3, 1.0, (10, 1))[labels]
        return codes, "synthetic clustered 16-d codes (no checkpoint found)"
    import torch

    from explorer.engine import InferenceEngine
    from explorer.checkpoint import load
    from explorer.data import load_dataset

    torch.set_num_threads(1)
    ck = load(path)
    dataset = load_dataset(ck.config.get("dataset", {}).get("name", "mnist"))
    codes = InferenceEngine(ck, device="cpu").encode(dataset.x)
    return codes.astype(np.float64), f"{ck.name} codes of {len(codes):,} {Path(dataset.name).name} images"


def resize(codes: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if size <= len(codes):
        return codes[:size]
    tiled = np.concatenate([codes] * -(-size // len(codes)))[:size]
    return tiled + rng.normal(size=tiled.shape) * 0.01 * codes.std(0)


def median_time(fn, inputs) -> float:
    times = []
    for x in inputs:
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cold_start(codes: np.ndarray) -> tuple[float, float, float]:
    """(first UMAP fit in a fresh process incl. imports, warm_up() in a fresh process, the fit after it)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "codes.npy")
        np.save(path, codes)
        runs = []
        for warm in (False, True):
            script = COLD_SCRIPT.format(codes=path, warm=warm)
            out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                                 check=True)  # run from the root, `python -c` imports explorer from there
            runs.append([float(v) for v in out.stdout.split()])
    return runs[0][0], runs[1][0], runs[1][1]


def bench(codes: np.ndarray, method: str, rng: np.random.Generator) -> dict[str, float]:
    key = ("bench", len(codes))
    fit = projection.project(codes, method, {}, key)
    assert not fit.from_cache
    hit = projection.project(codes, method, {}, key)
    assert hit.from_cache and np.array_equal(hit.coords, fit.coords)
    new = codes[rng.integers(0, len(codes), REPEATS + 1)] + rng.normal(size=(REPEATS + 1, codes.shape[1])) * 0.1 * codes.std(0)
    start = time.perf_counter()
    hit.projection.transform(new[:1])
    first_place = time.perf_counter() - start
    points = hit.coords[rng.integers(0, len(codes), REPEATS)] + rng.normal(size=(REPEATS, 2)) * 0.01 * np.ptp(hit.coords, 0)
    return {"fit": fit.seconds, "hit": hit.seconds, "first_place": first_place,
            "place": median_time(hit.projection.transform, new[1:, None]),
            "inverse": median_time(hit.projection.inverse, points[:, None])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--checkpoint", help="encode its dataset; default: the first under checkpoints/")
    args = parser.parse_args()
    os.environ[ENV["cache"]] = tempfile.mkdtemp(prefix="bench-projection-cache-")
    codes, source = load_codes(args.checkpoint)
    rng = np.random.default_rng(0)
    print(f"codes: {source}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")

    cold_fit, warm_up_s, fit_after = cold_start(resize(codes, args.sizes[0], rng))
    print(f"\nUMAP cold start at {args.sizes[0]:,} codes, each in a fresh process:")
    print(f"  first fit, imports included:        {cold_fit:6.1f} s")
    print(f"  warm_up() alone:                    {warm_up_s:6.1f} s")
    print(f"  first fit after warm_up():          {fit_after:6.1f} s")

    projection.warm_up()
    header = f"{'size':>7} {'method':<6} {'fit s':>8} {'cache hit s':>12} {'1st place s':>12} {'place ms':>9} {'inverse ms':>11}"
    print(f"\n{header}\n{'-' * len(header)}")
    for size in args.sizes:
        data = resize(codes, size, rng)
        for method in projection.METHODS:
            r = bench(data, method, rng)
            flags = ("" if r["hit"] <= FIT_TARGET_S else " hit>1s") + ("" if r["place"] <= PLACE_TARGET_S else " place>100ms")
            print(f"{size:>7,} {method:<6} {r['fit']:8.2f} {r['hit']:12.3f} {r['first_place']:12.3f} "
                  f"{1000 * r['place']:9.1f} {1000 * r['inverse']:11.2f}{flags}", flush=True)
    print(f"\ntargets: cache hit <= {FIT_TARGET_S:g} s, place <= {1000 * PLACE_TARGET_S:g} ms (flagged when missed)")


if __name__ == "__main__":
    main()
