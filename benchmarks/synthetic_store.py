"""A store of synthetic codes for benchmarks only: as many rows as asked (1,000,000 by default) in
minutes instead of the ~20 min of CPU that encoding ``shapes:1000000`` takes here.

    python -m benchmarks.synthetic_store --out stores/synthetic-1m [--size 1000000] [--workers 2]

Every row refers to a real image of the 1-px shapes grid (the sample ``shapes:<size>`` draws, so
``Store.images`` renders it again by reference) and carries that image's real thumbnail, labels
and factors; only the numbers the model would give are synthetic: codes drawn from a Gaussian
mixture fitted to shapes-vae's real codes of 4,000 of the images (one component per shape, its
mean moving linearly with the other factors, so maps have the model's structure and decoded
codes look like shapes), log-variances and reconstruction errors drawn from the real ones of the
same shape. The manifest names the shipped shapes-vae (its content hash and latent size), so the
app opens the store with that model active. Nothing here is a measurement of a model: use it to
time the app on a million rows.
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer import blocks, shapes
from explorer.store_format import Manifest, ModelRecord, block_path, block_table, start_store, thumbnails, write_block

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "shapes-vae"
BLOCK_SIZE = 10_000
SEED = 0
FIT_IMAGES = 4000  # real images encoded to fit the codes' mixture (a few seconds)


def synthetic_manifest(size: int, block_size: int = BLOCK_SIZE) -> Manifest:
    """shapes-vae's record on ``shapes:<size>`` (the 1-px grid past the 4-px grid's 144,000)."""
    from explorer.sources import open_model

    model = open_model(CHECKPOINT)
    record = blocks.describe_dataset(f"shapes:{size}", tuple(model.input_shape), seed=SEED)
    return Manifest(ModelRecord(model.name, str(CHECKPOINT), model.content_hash, int(model.latent_dim),
                                bool(model.is_variational)), record, block_size)


@dataclass
class CodeModel:
    """Codes as shapes-vae gives them, approximately: a Gaussian mixture with one component per
    shape, whose mean moves linearly with the other factors, fitted to the model's real codes of
    FIT_IMAGES images; log-variances and errors drawn from the real ones of the same shape."""

    weights: np.ndarray  # (F, D) features -> code mean (least squares)
    noise: dict[int, np.ndarray]  # shape -> (D, D) Cholesky factor of its residuals' covariance
    logvar: dict[int, np.ndarray]  # shape -> (n, D) real log-variances to draw from
    errors: dict[int, np.ndarray]  # shape -> (n,) real reconstruction errors to draw from


def features(factors: np.ndarray, grid: str) -> np.ndarray:
    """One-hot shape x colour, and scale, rotation (as cos and sin), x and y scaled to [0, 1]."""
    sizes = shapes.GRIDS[grid][1]
    pair = factors[:, 0] * sizes[1] + factors[:, 1]
    onehot = np.eye(sizes[0] * sizes[1])[pair]
    angle = 2 * np.pi * factors[:, 3] / sizes[3]
    scaled = factors[:, [2, 4, 5]] / np.maximum(np.asarray(sizes)[[2, 4, 5]] - 1, 1)
    return np.column_stack([onehot, np.cos(angle), np.sin(angle), scaled])


def fit_code_model(manifest: Manifest) -> CodeModel:
    from explorer.data import UnitImages
    from explorer.engine import InferenceEngine
    from explorer.sources import open_model

    rows = np.random.default_rng(SEED).choice(manifest.dataset.size, min(FIT_IMAGES, manifest.dataset.size),
                                              replace=False)
    factors = blocks.shapes_factors(manifest.dataset, np.sort(rows))
    scored = InferenceEngine(open_model(CHECKPOINT)).score(UnitImages(shapes.render(factors, grid=manifest.dataset.grid)))
    x = features(factors, manifest.dataset.grid)
    weights, *_ = np.linalg.lstsq(x, scored.codes, rcond=None)
    residuals = scored.codes - x @ weights
    noise, logvar, errors = {}, {}, {}
    for shape in np.unique(factors[:, 0]):
        mine = factors[:, 0] == shape
        covariance = np.cov(residuals[mine], rowvar=False) + 1e-6 * np.eye(residuals.shape[1])
        noise[int(shape)] = np.linalg.cholesky(covariance)
        logvar[int(shape)], errors[int(shape)] = scored.logvar[mine], scored.errors[mine]
    return CodeModel(weights, noise, logvar, errors)


def synthetic_scores(model: CodeModel, factors: np.ndarray, grid: str, seed: int):
    """(codes, log-variances, errors) of a block's factors, drawn from ``model``."""
    rng = np.random.default_rng(seed)
    codes = features(factors, grid) @ model.weights
    logvar = np.empty_like(codes)
    errors = np.empty(len(factors))
    for shape, factor in model.noise.items():
        mine = np.flatnonzero(factors[:, 0] == shape)
        codes[mine] += rng.standard_normal((len(mine), codes.shape[1])) @ factor.T
        logvar[mine] = model.logvar[shape][rng.integers(0, len(model.logvar[shape]), len(mine))]
        errors[mine] = model.errors[shape][rng.integers(0, len(model.errors[shape]), len(mine))]
    return codes.astype(np.float32), logvar.astype(np.float32), errors.astype(np.float32)


def write_synthetic_block(manifest: Manifest, model: CodeModel, out: Path, block: int) -> int:
    """One block's file: the real images' factors and thumbnails, synthetic scores."""
    rows = manifest.block_rows(block)
    index = np.arange(rows.start, rows.stop, dtype=np.int64)
    factors = blocks.shapes_factors(manifest.dataset, index)
    codes, logvar, errors = synthetic_scores(model, factors, manifest.dataset.grid, SEED + 1000 + block)
    pictures = thumbnails(shapes.render(factors, grid=manifest.dataset.grid), manifest.thumbnail_side)
    table = block_table(manifest, index, codes, logvar, errors, factors[:, 0].copy(), factors, None, pictures)
    write_block(block_path(out, block), table, [])
    return len(index)


def write_synthetic_store(out: Path, size: int = 1_000_000, workers: int = 2, block_size: int = BLOCK_SIZE) -> float:
    """Write (or finish: blocks already written are kept) the store; returns the seconds it took."""
    started = time.perf_counter()
    manifest = synthetic_manifest(size, block_size)
    start_store(out, manifest)
    pending = blocks.pending_blocks(manifest, out)
    model = fit_code_model(manifest)
    with ProcessPoolExecutor(workers) as pool:
        for done, _ in enumerate(pool.map(write_synthetic_block, [manifest] * len(pending), [model] * len(pending),
                                          [out] * len(pending), pending), 1):
            if done % 10 == 0 or done == len(pending):
                print(f"synthetic store: {done}/{len(pending)} blocks", flush=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seconds = write_synthetic_store(args.out, args.size, args.workers)
    print(f"wrote {args.size:,} rows to {args.out} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
