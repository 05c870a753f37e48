"""Backend throughput, printed as ratios measured in one run.

    python -m benchmarks.bench_backend [--checkpoint checkpoints/mnist-vae] [--device cuda]

1. encode of the 5,000 MNIST images at batch 256 through InferenceEngine vs a bare
   ``model.encoder`` loop over the same batches (target >= 0.95x);
2. 8 threads each decoding one latent vector 100 times: coalesced (decode_coalesced) vs the
   same threads calling the model one vector at a time (target >= 3x).
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np
import torch

from explorer.backend import InferenceEngine, one_intra_op_thread, pick_device
from explorer.checkpoint import load
from explorer.data import load_mnist


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_encode(engine: InferenceEngine, x: np.ndarray, batch: int, repeats: int) -> tuple[float, float]:
    model, device = engine.source.module, engine.device

    def bare():
        with torch.inference_mode(), engine._context():
            for i in range(0, len(x), batch):
                out = model.encoder(torch.from_numpy(x[i: i + batch]).to(device))
                out.float().cpu()

    def backend():
        engine.encode(x)

    bare(), backend()  # warm-up (allocations, CUDA context, cuDNN autotune)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t_bare, t_backend = best_of(bare, repeats), best_of(backend, repeats)
    return len(x) / t_bare, len(x) / t_backend


def bench_coalescing(engine: InferenceEngine, threads: int, calls: int) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((threads, engine.latent_dim)).astype(np.float32)
    model, device = engine.source.module, engine.device

    def run(worker) -> tuple[float, list[float]]:
        latencies: list[list[float]] = [[] for _ in range(threads)]

        def loop(i):
            for _ in range(calls):
                t0 = time.perf_counter()
                worker(codes[i: i + 1])
                latencies[i].append(time.perf_counter() - t0)

        pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return threads * calls / (time.perf_counter() - start), [v for per in latencies for v in per]

    def direct(z):
        with torch.inference_mode(), engine._context():
            return model.decode(torch.from_numpy(z).to(device)).float().cpu().numpy()

    direct(codes[:1]), engine.decode_coalesced(codes[:1])  # warm-up
    direct_rate, direct_lat = run(direct)
    coalesced_rate, coalesced_lat = run(engine.decode_coalesced)
    return direct_rate, coalesced_rate, statistics.median(direct_lat), statistics.median(coalesced_lat)


def batch_ceiling(engine: InferenceEngine, threads: int, repeats: int = 200) -> float:
    """Decodes/s if hand-offs were free: batches of ``threads`` codes back to back on one thread
    set up like a coalescing worker; the most one lane can serve."""
    z = np.zeros((threads, engine.latent_dim), np.float32)
    rate: list[float] = []

    def measure():
        if engine.device.type == "cpu":
            one_intra_op_thread()
        engine._decode_small(z)
        start = time.perf_counter()
        for _ in range(repeats):
            engine._decode_small(z)
        rate.append(threads * repeats / (time.perf_counter() - start))

    worker = threading.Thread(target=measure)
    worker.start()
    worker.join()
    return rate[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/mnist-vae")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--calls", type=int, default=100)
    args = p.parse_args()

    device = pick_device(args.device)
    engine = InferenceEngine(load(args.checkpoint), device=device, batch_size=args.batch)
    x = load_mnist().x
    print(f"checkpoint {args.checkpoint} on {engine.describe_device()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")

    bare_rate, backend_rate = bench_encode(engine, x, args.batch, args.repeats)
    print(f"encode {len(x)} images, batch {args.batch}: bare encoder loop {bare_rate:,.0f} img/s, "
          f"backend {backend_rate:,.0f} img/s -> backend = {backend_rate / bare_rate:.2f}x bare (target >= 0.95x)")

    direct_rate, coalesced_rate, direct_p50, coalesced_p50 = bench_coalescing(engine, args.threads, args.calls)
    print(f"{args.threads} threads x {args.calls} single decodes: direct {direct_rate:,.0f} decodes/s "
          f"(p50 {direct_p50 * 1e3:.2f} ms), coalesced {coalesced_rate:,.0f} decodes/s "
          f"(p50 {coalesced_p50 * 1e3:.2f} ms) -> coalesced = {coalesced_rate / direct_rate:.2f}x direct (target >= 3x)")
    ceiling = batch_ceiling(engine, args.threads)
    print(f"one lane's ceiling (batches of {args.threads} back to back, no hand-offs): {ceiling:,.0f} decodes/s "
          f"= {ceiling / direct_rate:.2f}x direct; coalesced reaches {coalesced_rate / ceiling:.0%} of it")


if __name__ == "__main__":
    main()
