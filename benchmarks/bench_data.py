"""Data benchmarks: generating the shapes dataset, and the first and second open of a folder of
100,000 images (decoded in parallel into the disk cache, then memory-mapped).

    flock /tmp/heavy.lock python benchmarks/bench_data.py [--images 100000] [--shapes 50000]

Each measurement runs in a fresh Python process (the package already imported, as in a running
server) with an empty (or, for the second open, the first open's) disk cache in a temporary
folder, and prints wall seconds of the call itself (plus reading 256 test images) and
the process's peak resident memory beside what it held before the call (the imported package).
Resident memory counts the pages of memory-mapped cache files a process has read. (Decoding
workers are not measured: a spawned child's peak as the kernel records it is its parent's
size at the fork, before it runs Python.)
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from explorer import cache, data, folders, preprocess, shapes  # imported, as in a running server
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
ds = data.load_dataset({name!r}, **{kwargs!r})
batch = ds.x[ds.test_idx[:256]]  # touch some images, as a page would
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_mb": peak, "before_mb": before, "n": len(ds.x),
                  "shape": list(ds.x.shape), "x": type(ds.x).__name__, "skipped": len(ds.skipped)}}))
"""


def measure(name: str, cache: Path, **kwargs) -> dict:
    env = {**os.environ, "LATENT_EXPLORER_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    code = MEASURE.format(root=str(ROOT), name=name, kwargs=kwargs)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(result: dict) -> str:
    return f"peak {result['peak_mb']:.0f} MB, {result['peak_mb'] - result['before_mb']:+.0f} MB over the imported package"


def write_pngs(job: tuple[str, int, int, int]) -> None:
    from PIL import Image

    from explorer import shapes

    folder, count, start, stop = job
    factors = shapes.sample_factors(count)[start:stop]
    for index, (row, image) in enumerate(zip(factors, shapes.render(factors)), start):
        path = Path(folder) / shapes.SHAPES[row[0]] / f"{index:06d}.png"
        Image.fromarray(image.transpose(1, 2, 0)).save(path, compress_level=1)


def make_folder(folder: Path, count: int) -> None:
    """``count`` 64x64 colour PNGs of shapes, in one subfolder per shape."""
    from explorer import shapes

    for name in shapes.SHAPES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    chunks = [(str(folder), count, i, min(i + 5000, count)) for i in range(0, count, 5000)]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count()) as pool:
        pool.map(write_pngs, chunks)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100_000, help="images in the generated folder")
    p.add_argument("--shapes", type=int, default=50_000, help="shapes images to generate")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        tmp = Path(tmp)
        name = "shapes" if args.shapes == 50_000 else f"shapes:{args.shapes}"
        first = measure(name, tmp / "cache-shapes")
        again = measure(name, tmp / "cache-shapes")
        print(f"shapes, {first['n']:,} images {first['shape'][1:]}: generated and cached in {first['seconds']:.1f} s "
              f"({memory(first)}); opened again in {again['seconds']:.2f} s ({memory(again)}, x as {again['x']})")
        folder = tmp / "folder"
        make_folder(folder, args.images)
        kwargs = {"size": 64, "channels": 3}
        first = measure(str(folder), tmp / "cache-folder", **kwargs)
        again = measure(str(folder), tmp / "cache-folder", **kwargs)
        print(f"folder of {first['n']:,} PNGs at 64x64 RGB, first open (decode {os.cpu_count()} processes, cache): "
              f"{first['seconds']:.1f} s, {memory(first)}, {first['skipped']} skipped")
        print(f"folder of {again['n']:,} PNGs, second open (listing, cache hit, memory-mapped): {again['seconds']:.2f} s, "
              f"{memory(again)}, x as {again['x']}")


if __name__ == "__main__":
    main()
