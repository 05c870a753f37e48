"""The 64x64 colour models at scale: encode throughput, then UMAP and t-SNE of 50k codes.

    python -m benchmarks.bench_shapes_models [--checkpoint checkpoints/shapes-vae] [--device cuda]

1. encode of the 50,000 ``shapes`` images at batch 256 through InferenceEngine vs a bare
   PyTorch loop over the torch encoder, same batches (img/s, and the ratio);
2. a UMAP and a t-SNE map of those 50,000 codes (s, fitted once each; no cache).
"""
from __future__ import annotations

import argparse
import time

import torch

from benchmarks.bench_backend import bench_encode
from explorer import projection
from explorer.engine import InferenceEngine, pick_device
from explorer.data import load_dataset
from explorer.sources import open_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/shapes-vae")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    model = open_model(args.checkpoint)
    engine = InferenceEngine(model, device=pick_device(args.device), batch_size=args.batch)
    start = time.perf_counter()
    x = load_dataset("shapes").x[:]
    print(f"shapes: {len(x)} images {list(x.shape[1:])} loaded in {time.perf_counter() - start:.1f} s; "
          f"checkpoint {args.checkpoint} on {engine.describe_device()}, {torch.get_num_threads()} threads")

    bare_rate, backend_rate = bench_encode(engine, model.torch_parts(), x, args.batch, args.repeats)
    print(f"encode {len(x)} images, batch {args.batch}: bare encoder loop {bare_rate:,.0f} img/s, "
          f"backend {backend_rate:,.0f} img/s -> backend = {backend_rate / bare_rate:.2f}x bare")

    codes = engine.encode(x)
    print(f"umap numba warm-up {projection.warm_up():.1f} s (not counted below)")
    for method in ("umap", "tsne"):
        start = time.perf_counter()
        projection.make_projection(method).fit(codes)
        print(f"{method} of {len(codes)} codes of size {codes.shape[1]}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
