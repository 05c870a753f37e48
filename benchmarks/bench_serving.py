"""Serving figures (issue 21): what a browser can make the server spend.

    flock /tmp/heavy.lock python -m benchmarks.bench_serving [--disk-sizes 100] [--small] [--before c62e634]

- disk: a link per size, ``data=folder or .npz path&data_path=shapes:N`` for N = 143999, 143998, …
  (100 distinct sizes near the full grid, the issue's attack), each opened through the sidebar's own
  ``dataset_cache.dataset_for`` in a scratch cache; prints the cache's use after them (``--small``:
  sizes 2999, 2998, … instead, a quick run).
- queue: a flood of links ``map_method=t-SNE&tsne_seed=N`` from one session, then one link each from
  20 sessions, through the Map page's own ``map_jobs._start`` on the codes of mnist-vae; prints the
  queue's length and what was cancelled or refused.
- memory: the biggest upload (a 5000x5000 PNG under the 10 MB limit) through both upload paths, and
  the biggest folder files (the same PNG, a 16-bit one, and a 256 MB .tif) through a folder's decoder;
  each in a fresh process, its peak resident memory over what it held before (the package imported,
  the file's bytes read) and the peak of Python/numpy allocations (tracemalloc). ``--before COMMIT``
  also runs the upload and folder paths of ``explorer/preprocess.py`` and ``explorer/folders.py`` as they
  were at COMMIT, in the same run.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import CancelledError
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = 144_000


# --- disk -----------------------------------------------------------------------------------------
def disk(count: int, small: bool) -> None:
    from explorer import cache_budget
    from explorer.ui import dataset_cache

    top = 3_000 if small else GRID
    sizes = [top - 1 - i for i in range(count)]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        os.environ["LATENT_EXPLORER_CACHE"] = scratch
        start = time.perf_counter()
        for size in sizes:
            dataset_cache.dataset_for(f"shapes:{size}")  # what the sidebar does with the typed link
        seconds = time.perf_counter() - start
        usage = cache_budget.usage()
        stores = sorted(Path(scratch, "shapes").glob("*.npy"))
        per_image = 3 * 64 * 64
        print(f"disk: {count} distinct shapes sizes ({sizes[0]:,} down to {sizes[-1]:,}) opened in {seconds:.1f} s")
        print(f"  cache after them: {cache_budget.human(usage.total)} ({usage.line()}); {len(stores)} store file(s)")
        print(f"  one store per size, as before, would hold {cache_budget.human(sum(sizes) * per_image)}")


# --- queue ----------------------------------------------------------------------------------------
def queue() -> None:
    from explorer import projection, settings
    from explorer.data import load_dataset
    from explorer.engine import InferenceEngine
    from explorer.shipped import DEFAULT_CHECKPOINT, SHIPPED_DIR
    from explorer.sources import open_model
    from explorer.ui import jobs, map_jobs

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        os.environ["LATENT_EXPLORER_CACHE"] = scratch
        engine = InferenceEngine(open_model(SHIPPED_DIR / DEFAULT_CHECKPOINT))
        dataset = load_dataset("mnist")
        codes = engine.encode_dataset(dataset).codes
        key_parts = (engine.source.content_hash, dataset.identity)
        params = projection.default_params("tsne")
        futures = []
        start = time.perf_counter()
        for seed in range(100):  # one session opening 100 links, each another seed
            futures.append(map_jobs._start(key_parts, codes, "tsne", {**params, "seed": seed}, session="flood"))
        flood_s = time.perf_counter() - start
        waiting = jobs.STORE.queued()
        first = stopped(futures[0])
        print(f"queue: one session, 100 t-SNE links in {flood_s * 1000:.0f} ms -> {waiting} map waiting; "
              f"{sum(f.cancelled() for f in futures[1:-1])} of the 98 between never started (each replaced by the "
              f"next); the first {first}")
        refused = 0
        for n in range(20):  # then 20 other sessions, a link each
            try:
                map_jobs._start(key_parts, codes, "tsne", {**params, "seed": 1000 + n}, session=f"visitor{n}")
            except jobs.Busy:
                refused += 1
        print(f"  then 20 other sessions, a link each: {jobs.STORE.queued()} maps waiting (limit "
              f"{settings.read().map_queue}), {refused} refused with 'busy, try again'")
        jobs.clear()


def stopped(future) -> str:
    """How a replaced job ended."""
    try:
        future.result(timeout=120)
    except CancelledError:
        return "never started" if future.cancelled() else "was stopped while running"
    return "finished"


# --- memory ---------------------------------------------------------------------------------------
MEASURE = r"""
import importlib.util, json, sys, tracemalloc
sys.path.insert(0, {root!r})
from explorer import folders, preprocess
from pathlib import Path

def loaded(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

pre, fol = preprocess, folders
if {before!r}:
    pre = loaded("explorer.preprocess_before", {before!r} + "/preprocess.py")
    fol = loaded("explorer.folders_before", {before!r} + "/folders.py")
    import explorer
    sys.modules["explorer.preprocess"] = explorer.preprocess = pre  # what the old folders.py imports
path = Path({path!r})
data = path.read_bytes() if {case!r}.startswith("upload") else b""
def status(field):
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1]) / 1024
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak resident size starts again from now (Linux)
before = status("VmRSS")
tracemalloc.start()
outcome = "ok"
try:
    if {case!r} == "upload-colour":
        pre.preprocess_plain_bytes(data, size=64, channels=3)
    elif {case!r} == "upload-digit":
        pre.preprocess_bytes(data)
    else:
        fol.decode_file(path, 64, 3, "plain")
except Exception as e:
    outcome = f"refused: {{str(e)[:70]}}"
peak_traced = tracemalloc.get_traced_memory()[1] / 2**20
peak = status("VmHWM")
print(json.dumps({{"rss_peak_over_mb": peak - before, "traced_mb": peak_traced, "outcome": outcome}}))
"""


def measure_memory(case: str, path: Path, before: str) -> dict:
    code = MEASURE.format(root=str(ROOT), case=case, path=str(path), before=before)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(before_commit: str | None) -> None:
    import numpy as np
    from PIL import Image

    from explorer.preprocess import MAX_UPLOAD_BYTES

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        scratch = Path(scratch)
        rng = np.random.default_rng(0)
        big = Image.fromarray(rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)).resize((5000, 5000), Image.NEAREST)
        big.save(scratch / "big.png", compress_level=1)
        deep = Image.fromarray(rng.integers(0, 65536, (50, 50)).astype(np.uint16)).resize((5000, 5000), Image.NEAREST)
        deep.save(scratch / "deep16.png", compress_level=1)
        with (scratch / "huge.tif").open("wb") as f:
            f.truncate(256 * 2**20)  # sparse
        for name in ("big.png", "deep16.png"):
            assert (scratch / name).stat().st_size <= MAX_UPLOAD_BYTES, name
        versions = [("now", "")]
        if before_commit:
            old = scratch / "before"
            old.mkdir()
            for name in ("preprocess.py", "folders.py"):
                text = subprocess.run(["git", "show", f"{before_commit}:explorer/{name}"], cwd=ROOT, check=True,
                                      capture_output=True, text=True).stdout
                (old / name).write_text(text.replace("from . import", "from explorer import")
                                            .replace("from .", "from explorer."))
            versions.append((f"at {before_commit}", str(old)))
        cases = [("upload-colour", "big.png", "upload 5000x5000 PNG, colour model (plain path)"),
                 ("upload-digit", "big.png", "upload 5000x5000 PNG, digit path"),
                 ("folder", "big.png", "folder file: 5000x5000 PNG"),
                 ("folder", "deep16.png", "folder file: 5000x5000 16-bit PNG"),
                 ("folder", "huge.tif", "folder file: 256 MB .tif")]
        print("memory: peak resident memory over what the process held before (package imported, bytes read);"
              " peak of Python/numpy allocations")
        for case, name, label in cases:
            for version, path in versions:
                result = measure_memory(case, scratch / name, path)
                print(f"  {label:<48} {version:<12} RSS +{result['rss_peak_over_mb']:6.0f} MB, "
                      f"traced {result['traced_mb']:6.1f} MB  {result['outcome']}")


def main() -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # cached functions called outside a server warn
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--disk-sizes", type=int, default=100)
    parser.add_argument("--small", action="store_true", help="shapes sizes near 3,000 instead of the full grid")
    parser.add_argument("--before", help="a commit whose upload and folder paths to measure beside today's")
    parser.add_argument("--only", choices=["disk", "queue", "memory"])
    args = parser.parse_args()
    if args.only in (None, "memory"):
        memory(args.before)
    if args.only in (None, "queue"):
        queue()
    if args.only in (None, "disk"):
        disk(args.disk_sizes, args.small)


if __name__ == "__main__":
    main()
