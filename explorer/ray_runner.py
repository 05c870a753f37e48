"""The block function as Ray Data actors: a local Ray, or a cluster by address.

Ray Data maps a dataset of block numbers (not images) through ``BlockWorker``, a callable
class run by a pool of actors (``compute=ActorPoolStrategy(size=k)``). Each actor opens the
model once, then reads or generates each block it is handed, scores it and writes its Parquet
file (``blocks.encode_block``, the function the in-process loop runs); only block numbers and
small reports cross Ray's object store. What the feasibility runs taught (issue 23):

- actors ask for fractional CPUs (``ACTOR_CPU_SHARE`` of their threads): two actors asking one
  whole CPU each on a 2-CPU node left nothing for Ray Data's own work and hung silently;
- Ray sets ``OMP_NUM_THREADS=1`` for a one-CPU actor, so the engine's threads are set
  explicitly (environment and torch, which the onnxruntime sessions follow);
- progress bars and Ray's log would fill a log without a terminal: both are off, and the
  caller prints one progress line from the reports;
- ``num_gpus`` per actor where Ray has GPUs (the engine then runs on CUDA).

Ray is an optional extra: ``pip install -r requirements-scale.txt``.
"""
from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from .blocks import BlockReport, block_engine, encode_block
from .store_format import Manifest

INSTALL_HINT = ("Ray is not installed: install the optional extra with "
                "`.venv/bin/pip install -r requirements-scale.txt` (ray[data] 2.60, about 200 MB), "
                "or encode in process (without --ray)")
ACTOR_CPU_SHARE = 0.75  # of an actor's threads asked of Ray as CPUs: leaves room for Ray Data's own tasks
CLUSTER_THREADS = 4  # engine threads per actor on a cluster without GPUs, unless told
REPORT_FIELDS = ("block", "rows", "started", "seconds", "cpu_seconds", "skipped", "error")


class RayMissing(RuntimeError):
    """Ray is not installed; the message says how to install it."""


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayMissing(INSTALL_HINT) from None
    return ray


class BlockWorker:
    """One actor: the model opened once, then ``encode_block`` for each block number handed in."""

    def __init__(self, model_path: str, manifest_json: str, store: str, threads: int):
        start = time.perf_counter()
        os.environ["OMP_NUM_THREADS"] = str(threads)
        self.engine = block_engine(model_path, threads)
        self.manifest = Manifest.from_json(manifest_json)
        self.store = Path(store)
        self.load_seconds = time.perf_counter() - start
        self.ready_at = time.time()
        self.actor = f"{os.uname().nodename}:{os.getpid()}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        reports = [encode_block(self.engine, self.manifest, self.store, int(b)) for b in batch["block"]]
        columns = {name: np.array([getattr(r, name) for r in reports]) for name in REPORT_FIELDS if name != "error"}
        columns["error"] = np.array([r.error or "" for r in reports], dtype=object)
        columns["actor"] = np.array([self.actor] * len(reports), dtype=object)
        columns["ready_at"] = np.full(len(reports), self.ready_at)
        columns["load_seconds"] = np.full(len(reports), self.load_seconds)
        return columns


def default_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def plan_actors(config, cores: int, gpus: float, cpus: float, local: bool) -> tuple[int, int, float]:
    """(actors, threads per actor, GPUs per actor) for what Ray has."""
    gpus_per_actor = config.gpus_per_actor if config.gpus_per_actor is not None else (1.0 if gpus else 0.0)
    if gpus_per_actor:
        actors = config.actors or max(1, int(gpus // gpus_per_actor))
        threads = config.threads or max(1, int(cpus // actors) if cpus else 1)
        return actors, threads, gpus_per_actor
    if local:
        actors = config.actors or (2 if cores >= 2 else 1)
        threads = config.threads or max(1, cores // actors)
    else:
        threads = config.threads or CLUSTER_THREADS
        actors = config.actors or max(1, int(cpus // threads))
    return actors, threads, 0.0


def run_on_ray(model_path: str, manifest: Manifest, store: Path, pending: list[int], config,
               on_report: Callable[[BlockReport], None]) -> tuple[str, dict]:
    """Run ``pending`` blocks as Ray Data actors; ``on_report`` hears of each block as it ends.
    Returns (the engine in words, Ray's own timings: init, first result, actors' model loads)."""
    start = time.perf_counter()
    ray = import_ray()
    from ray.data import ActorPoolStrategy, DataContext

    local = config.address is None
    cores = default_cores()
    started_here = not ray.is_initialized()
    if started_here and local:
        # A local Ray's processes are this one's children and inherit its environment: the
        # package is found through PYTHONPATH (a runtime_env would make Ray start a second set
        # of workers for it: 15 s more here). On a cluster, `ray job submit --working-dir .` ships it.
        package_parent = str(Path(__file__).resolve().parents[1])
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    elif started_here:
        ray.init(address=config.address, log_to_driver=False, logging_level=logging.ERROR)
    init_seconds = time.perf_counter() - start
    try:
        resources = ray.cluster_resources()
        actors, threads, gpus = plan_actors(config, cores, resources.get("GPU", 0.0), resources.get("CPU", 0.0), local)
        context = DataContext.get_current()
        context.enable_progress_bars = False
        context.enable_operator_progress_bars = False
        context.print_on_execution_start = False
        context.enable_auto_log_stats = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        blocks = ray.data.from_items([{"block": b} for b in pending], override_num_blocks=len(pending))
        with warnings.catch_warnings():
            # Ray 2.60 (pinned) takes max_restarts only among its generic remote arguments, which it
            # marks deprecated for 2.64; without it a local actor that dies (out of memory) is
            # restarted for ever, and Ray logs an error line for every actor it may restart
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            results = blocks.map_batches(
                BlockWorker, batch_size=1, compute=ActorPoolStrategy(size=min(actors, len(pending))),
                fn_constructor_kwargs={"model_path": model_path, "manifest_json": manifest.as_json(),
                                       "store": str(Path(store).resolve()), "threads": threads},
                num_cpus=max(0.01, threads * ACTOR_CPU_SHARE), num_gpus=gpus or None,
                # on a cluster Ray's default restarts ride out a lost node
                **({"max_restarts": 0} if local else {}))
        loads: dict[str, tuple[float, float]] = {}
        first_result, stopped = None, None
        try:
            for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
                first_result = first_result or time.perf_counter() - start
                for k in range(len(batch["block"])):
                    loads[str(batch["actor"][k])] = (float(batch["ready_at"][k]), float(batch["load_seconds"][k]))
                    on_report(BlockReport(int(batch["block"][k]), int(batch["rows"][k]), float(batch["started"][k]),
                                          float(batch["seconds"][k]), float(batch["cpu_seconds"][k]),
                                          int(batch["skipped"][k]), str(batch["error"][k]) or None))
        except Exception as e:  # an actor died or the cluster went away: what was written stays
            stopped = f"{type(e).__name__}: {str(e).strip().splitlines()[-1][:300] if str(e).strip() else ''}"
        extra = {"init_seconds": init_seconds, "first_result_seconds": first_result, "stopped": stopped,
                 "actor_ready_at": sorted(ready for ready, _ in loads.values()),
                 "actor_load_seconds": sorted(load for _, load in loads.values()),
                 "actors": actors, "threads": threads, "gpus_per_actor": gpus}
        return describe(actors, threads, gpus, local), extra
    finally:
        if started_here:
            ray.shutdown()


def describe(actors: int, threads: int, gpus: float, local: bool) -> str:
    where = "local Ray" if local else "Ray cluster"
    gpu = f", {gpus:g} GPU each" if gpus else ""
    return f"{where}: {actors} actor{'s' * (actors != 1)} x {threads} thread{'s' * (threads != 1)}{gpu}"
