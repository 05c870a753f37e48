"""A million images: encoding into stores in process and on a local Ray, and maps of a million codes.

    python -m benchmarks.bench_scale                       # the issue's sizes (long: about an hour here)
    python -m benchmarks.bench_scale --images 20000 --k-images 10000 --codes 50000 --sample 5000 \\
        --trust-size 10000                                 # a quick check

Engines (``--images`` generated shapes of the 1-px grid, shapes-vae): in process and on a local Ray with 2 actors of
cores / 2 threads, alternating for ``--rounds`` rounds (each run encodes ``--images / --rounds``
images of its own sample into a fresh store, so drift of a shared machine hits both alike), then
Ray with 1 actor of all cores against 2 actors on ``--k-images``. For each: images/s end to end;
steady-state images/s (from the first block's start to the last block's end, so Ray's fixed
costs are apart: ``ray.init``, actor start and model load, reported on their own); CPU-seconds
per image, in steady state (the CPU time of the processes running blocks, over the blocks) and in
all (every process of the run, Ray's own included); peak RSS of the run's process tree (summed);
and the lines Ray wrote to the terminal besides our progress line.

Maps (``--codes`` codes: the in-process stores' codes, tiled with noise of 1% of each dimension's
spread when fewer): PCA on all; UMAP and t-SNE fitted on ``--sample`` codes (stratified by shape)
with the rest placed by ``transform``; seconds and peak RSS each. Then at ``--trust-size`` codes,
trustworthiness / continuity / 10-NN recall (explorer.quality.map_fidelity, 5,000 points) of the
map fitted on all of them against the one fitted on the same share as at full size and placed.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "shapes-vae"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- measuring a process tree -----------------------------------------------------------------------
def process_table() -> dict[int, tuple[int, float, int]]:
    """pid -> (parent pid, CPU seconds, RSS bytes) of every process we can read."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS, int(fields[21]) * PAGE)
    return table


def tree_of(table: dict, root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, pending = set(), [root]
    while pending:
        pid = pending.pop()
        found.add(pid)
        pending += children.get(pid, [])
    return found


class TreeMeter:
    """CPU seconds and peak RSS of this process and all its descendants, sampled every 0.5 s while
    a run goes on (a local Ray's processes are descendants of the driver)."""

    def __init__(self):
        self.start_cpu: dict[int, float] = {}
        self.last_cpu: dict[int, float] = {}
        self.peak_rss = 0
        self.stop = threading.Event()

    def sample(self) -> None:
        table = process_table()
        pids = tree_of(table, os.getpid())
        for pid in pids:
            self.start_cpu.setdefault(pid, 0.0)  # started during the run: all its CPU time counts
            self.last_cpu[pid] = table[pid][1]
        self.peak_rss = max(self.peak_rss, sum(table[p][2] for p in pids))

    def __enter__(self):
        table = process_table()
        self.start_cpu = {pid: table[pid][1] for pid in tree_of(table, os.getpid())}
        self.last_cpu = dict(self.start_cpu)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.sample()

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.sample()

    @property
    def cpu_seconds(self) -> float:
        return sum(self.last_cpu[p] - self.start_cpu.get(p, 0.0) for p in self.last_cpu)


@contextlib.contextmanager
def stderr_to(path: Path):
    """Send file descriptor 2 (ours and every child's) to ``path`` for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "w") as f:
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


# --- engines ------------------------------------------------------------------------------------------
@dataclass
class EngineRun:
    label: str
    images: int
    wall: float
    steady: float  # first block start -> last block end
    block_cpu: float  # CPU seconds of the block-running processes over their blocks
    tree_cpu: float  # CPU seconds of every process of the run
    peak_rss: int
    extra: dict = field(default_factory=dict)
    foreign_lines: int = 0  # stderr lines that are not our progress line

    @property
    def fixed(self) -> float:
        return self.wall - self.steady


def run_engine(label: str, dataset: str, out: Path, config, log: Path) -> EngineRun:
    from explorer.bulk import encode_to_store

    with TreeMeter() as meter, stderr_to(log):
        summary = encode_to_store(CHECKPOINT, dataset, out, config)
    if summary.failed or summary.not_run:
        raise SystemExit(f"{label}: blocks failed: {[r.error for r in summary.failed]} {summary.extra.get('stopped')}")
    first = min(r.started for r in summary.reports)
    last = max(r.started + r.seconds for r in summary.reports)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    foreign = [line for line in lines if not line.startswith("encoded ")]
    return EngineRun(label, summary.rows, summary.seconds, last - first, sum(r.cpu_seconds for r in summary.reports),
                     meter.cpu_seconds, meter.peak_rss, summary.extra, len(foreign))


def print_runs(title: str, runs: list[EngineRun], baseline: str) -> None:
    print(f"\n{title}")
    print(f"{'engine':<34}{'images':>9}{'img/s':>8}{'steady':>8}{'fixed s':>9}{'CPU-s/img':>11}{'(steady)':>10}"
          f"{'peak RSS':>10}{'Ray log':>8}")
    totals: dict[str, list[EngineRun]] = {}
    for run in runs:
        totals.setdefault(run.label, []).append(run)
        print(f"{run.label:<34}{run.images:>9,}{run.images / run.wall:>8,.0f}{run.images / run.steady:>8,.0f}"
              f"{run.fixed:>9.1f}{run.tree_cpu / run.images * 1e3:>9.2f}ms{run.block_cpu / run.images * 1e3:>8.2f}ms"
              f"{run.peak_rss / 2**20:>8,.0f}MB{run.foreign_lines:>8}")
        if "init_seconds" in run.extra:
            loads = ", ".join(f"{s:.1f}" for s in run.extra["actor_load_seconds"])
            print(f"{'':<6}Ray fixed costs: init {run.extra['init_seconds']:.1f} s, first block done at "
                  f"{run.extra['first_result_seconds']:.1f} s, actor model loads {loads} s")
    agg = {label: (sum(r.images for r in rs), sum(r.steady for r in rs), sum(r.wall for r in rs),
                   sum(r.block_cpu for r in rs), sum(r.tree_cpu for r in rs)) for label, rs in totals.items()}
    base = agg[baseline]
    for label, (images, steady, wall, block_cpu, tree_cpu) in agg.items():
        if label == baseline:
            continue
        print(f"{label} vs {baseline}: steady-state throughput {(images / steady) / (base[0] / base[1]):.2f}x, "
              f"end to end {(images / wall) / (base[0] / base[2]):.2f}x; CPU-s per image {(block_cpu / images) / (base[3] / base[0]):.2f}x "
              f"in steady state, {(tree_cpu / images) / (base[4] / base[0]):.2f}x in all")


def bench_engines(args, work: Path) -> list[Path]:
    from explorer.bulk import EncodeConfig
    from explorer.ray_runner import default_cores

    from explorer.engine import InferenceEngine
    from explorer.sources import open_model

    cores = default_cores()
    per_round = args.images // args.rounds
    InferenceEngine(open_model(CHECKPOINT)).close()  # the ONNX export, cached for every run after (not timed)
    in_process_stores = []
    runs = []
    ray_label = f"Ray, 2 actors x {max(1, cores // 2)} thread(s)"
    for round_ in range(args.rounds):
        for label, ray in (("in process", False), (ray_label, True)):
            if ray and args.no_ray:
                continue
            out = work / f"{'ray' if ray else 'local'}-{round_}"
            config = EncodeConfig(block_size=args.block_size, ray=ray, actors=2 if ray else None,
                                  threads=max(1, cores // 2) if ray else None, seed=round_)
            runs.append(run_engine(label, f"shapes-fine:{per_round}", out, config, work / f"log-{out.name}.txt"))
            if not ray:
                in_process_stores.append(out)
            else:
                shutil.rmtree(out)
            print(f"  done: {label}, round {round_ + 1}: {runs[-1].images / runs[-1].wall:,.0f} img/s", flush=True)
    print_runs(f"shapes-fine:{args.images} (the 1-px grid of shapes:1000000) with {CHECKPOINT.name}, {args.rounds} alternating round(s) of {per_round:,} images, "
               f"blocks of {args.block_size:,}, {cores} cores", runs, "in process")
    if args.k_images and not args.no_ray:
        k_runs = []
        for actors in (1, 2):
            out = work / f"ray-k{actors}"
            config = EncodeConfig(block_size=args.block_size, ray=True, actors=actors, threads=max(1, cores // actors),
                                  seed=100 + actors)
            k_runs.append(run_engine(f"Ray, {actors} actor(s) x {max(1, cores // actors)} thread(s)",
                                     f"shapes-fine:{args.k_images}", out, config, work / f"log-k{actors}.txt"))
            shutil.rmtree(out)
        print_runs(f"k = 1 vs 2 actors on shapes-fine:{args.k_images}", k_runs, k_runs[0].label)
    return in_process_stores


# --- maps ------------------------------------------------------------------------------------------------
def peak_rss_during(fn):
    """(result, seconds, peak RSS of this process while fn ran)."""
    peak = [0]
    stop = threading.Event()

    def rss() -> None:
        with open("/proc/self/statm") as f:
            peak[0] = max(peak[0], int(f.read().split()[1]) * PAGE)

    def watch():
        while not stop.wait(0.1):
            rss()

    rss()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        result = fn()
    finally:
        stop.set()
        thread.join()
        rss()
    return result, time.perf_counter() - start, peak[0]


def map_codes(stores: list[Path], n: int) -> tuple[np.ndarray, np.ndarray, str]:
    from explorer.store import open_store

    opened = [open_store(s, strict=True) for s in stores]
    codes = np.concatenate([s.codes for s in opened])
    labels = np.concatenate([s.y for s in opened])
    if len(codes) >= n:
        return codes[:n], labels[:n], f"{n:,} codes of the in-process stores"
    rng = np.random.default_rng(0)
    reps = -(-n // len(codes))
    tiled = np.tile(codes, (reps, 1))[:n]
    tiled += rng.standard_normal(tiled.shape).astype(np.float32) * (0.01 * codes.std(0))
    return tiled, np.tile(labels, reps)[:n], (f"{len(codes):,} codes of the in-process stores tiled to {n:,} "
                                               f"with 1% noise")


def bench_maps(args, stores: list[Path]) -> None:
    from explorer import projection, quality

    codes, labels, source = map_codes(stores, args.codes)
    print(f"\nmaps of {source} ({codes.shape[1]}-d), sample of {args.sample:,} for t-SNE and UMAP "
          f"(stratified by shape), placed {projection.PLACE_BLOCK:,} at a time")
    print(f"{'map':<8}{'total s':>9}{'fit s':>8}{'place s':>9}{'peak RSS':>11}")
    warm = projection.warm_up() if "umap" in args.methods else 0.0
    for method in args.methods:
        result, seconds, peak = peak_rss_during(lambda: projection.project_large(
            codes, method, labels=labels, sample_size=args.sample, cache_key_parts=("bench_scale",)))
        print(f"{method:<8}{seconds:>9.1f}{result.fit_seconds:>8.1f}{result.place_seconds:>9.1f}"
              f"{peak / 2**20:>9,.0f}MB", flush=True)
    if warm:
        print(f"(umap's numba compilation, paid before: {warm:.1f} s)")
    n = args.trust_size
    share = max(1, round(n * args.sample / args.codes))
    print(f"\nwhat sampling costs, at {n:,} codes: fitted on all vs fitted on {share:,} ({share / n:.0%}, the share "
          f"of {args.sample:,} in {args.codes:,}) and the rest placed; map fidelity on {quality.MAP_SAMPLE:,} points, "
          f"k = {quality.MAP_K}")
    print(f"{'map':<8}{'fitted on':>11}{'s':>8}{'trust':>8}{'contin.':>9}{'10-NN recall':>14}")
    for method in (m for m in args.methods if m != "pca"):
        for fitted_on in (n, share):
            result, seconds, _ = peak_rss_during(lambda: projection.project_large(
                codes[:n], method, labels=labels[:n], sample_size=fitted_on, cache_key_parts=("bench_scale_trust",)))
            fidelity = quality.map_fidelity(codes[:n], result.coords)
            print(f"{method:<8}{fitted_on:>11,}{seconds:>8.1f}{fidelity.trustworthiness:>8.3f}"
                  f"{fidelity.continuity:>9.3f}{fidelity.recall:>14.3f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1_000_000, help="generated shapes per engine, over all rounds")
    p.add_argument("--rounds", type=int, default=2, help="alternating in-process / Ray rounds")
    p.add_argument("--block-size", type=int, default=10_000)
    p.add_argument("--k-images", type=int, default=100_000, help="images for Ray with 1 vs 2 actors (0: skip)")
    p.add_argument("--no-ray", action="store_true", help="in process only (no Ray installed)")
    p.add_argument("--codes", type=int, default=1_000_000, help="codes to map")
    p.add_argument("--sample", type=int, default=100_000, help="codes t-SNE and UMAP are fitted on")
    p.add_argument("--trust-size", type=int, default=100_000, help="codes of the sampled-vs-whole comparison")
    p.add_argument("--methods", type=lambda s: s.split(","), default=["pca", "umap", "tsne"])
    p.add_argument("--skip-engines", action="store", metavar="STORES", nargs="*",
                   help="map the codes of these existing stores instead of encoding")
    p.add_argument("--keep", type=Path, help="write the stores here and keep them (default: a temporary folder)")
    args = p.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("LATENT_EXPLORER_CACHE", str(work / "cache"))  # a cold cache: maps really fitted
    print(f"bench_scale: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    start = time.perf_counter()
    try:
        stores = [Path(s) for s in args.skip_engines] if args.skip_engines else bench_engines(args, work)
        if args.codes:
            bench_maps(args, stores)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\nbench_scale took {time.perf_counter() - start:.0f} s; this process's peak RSS {usage.ru_maxrss / 2**10:,.0f} MB")


if __name__ == "__main__":
    main()
