"""Encode a whole dataset into a store, block by block: in this process, or on Ray.

``encode_to_store(model_path, dataset, out, config)`` writes the store's manifest (or checks
that an existing store is this same run), finds the blocks without a complete file, and runs
``blocks.encode_block`` over them: here, in a loop (no Ray needed), or as Ray Data actors
(``explorer/ray_runner.py``, ``config.ray``). Either way every block is one Parquet file
written by the block function itself, so a stopped run resumes where it stopped and a failed
block is reported at the end (run the same command again to retry it) without stopping the rest.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .blocks import BlockReport, describe_dataset, encode_block, pending_blocks
from .dataset_spec import preprocessing_for
from .store_format import Manifest, ModelRecord, start_store

DEFAULT_BLOCK_SIZE = 10_000  # images per Parquet file: 100 files for a million; ~120 MB of 64x64 colour at once
MAX_BLOCK_SIZE = 200_000


@dataclass
class EncodeConfig:
    block_size: int = DEFAULT_BLOCK_SIZE  # images per block (one Parquet file each)
    ray: bool = False  # run the blocks as Ray Data actors instead of in this process
    address: str | None = None  # a running Ray cluster ("auto", "ray://head:10001"); None: a local Ray
    actors: int | None = None  # Ray actors (None: local cores // threads, or one per GPU on a cluster with GPUs)
    threads: int | None = None  # engine threads per process (None: in process torch's default; on Ray see ray_runner)
    gpus_per_actor: float | None = None  # None: 1 where Ray has GPUs, else none
    preprocessing: str | None = None  # a folder's: "digit" or "plain" (None: as the app picks for the model)
    seed: int = 0  # a generated dataset's sample of its grid
    progress: bool = True  # a progress line on stderr


@dataclass
class EncodeSummary:
    store: Path
    manifest: Manifest
    resumed: int  # blocks already complete when the run started (kept as they were)
    reports: list[BlockReport]  # the blocks this run ran, in the order they finished
    seconds: float  # wall time of the run, from the call to its end
    setup_seconds: float  # of that, before the first block started: model load (and Ray's start, its actors')
    engine: str  # how the blocks ran, in words
    extra: dict = field(default_factory=dict)  # the engine's own timings (ray_runner: init, actor loads)

    @property
    def failed(self) -> list[BlockReport]:
        return [r for r in self.reports if r.error]

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.reports)

    @property
    def not_run(self) -> int:
        """Blocks still without a file (a Ray run that stopped early): resumable."""
        return self.manifest.num_blocks - self.resumed - len(self.reports)


def make_manifest(model, model_path: str | Path, dataset: str, config: EncodeConfig) -> Manifest:
    from .sources import check_fits

    if not 1 <= config.block_size <= MAX_BLOCK_SIZE:
        raise ValueError(f"the block size must be from 1 to {MAX_BLOCK_SIZE:,} images, got {config.block_size:,}")
    record = describe_dataset(dataset, tuple(model.input_shape), config.preprocessing or preprocessing_for(model),
                              config.seed)
    check_fits(model, list(record.input_shape), dataset)
    return Manifest(ModelRecord(model.name, str(Path(model_path).resolve()), model.content_hash, int(model.latent_dim),
                                bool(model.is_variational)), record, config.block_size)


class ProgressLine:
    """One line on stderr: blocks and images done, images/s, failures; redrawn in place on a
    terminal, a line every 30 s otherwise (a log stays short)."""

    def __init__(self, total_rows: int, total_blocks: int, enabled: bool = True):
        self.total_rows, self.total_blocks, self.enabled = total_rows, total_blocks, enabled
        self.rows = self.blocks = self.failed = 0
        self.first_started: float | None = None  # wall clock: when the first block began (setup is not counted)
        self.tty = sys.stderr.isatty()
        self.last_print = 0.0

    def __call__(self, report: BlockReport) -> None:
        self.blocks += 1
        self.rows += report.rows
        self.first_started = min(self.first_started or report.started, report.started)
        self.failed += bool(report.error)
        if not self.enabled:
            return
        if report.error:
            print(f"\nblock {report.block} failed: {report.error}", file=sys.stderr, flush=True)
        now = time.perf_counter()
        if self.tty or now - self.last_print >= 30 or self.blocks == self.total_blocks:
            self.last_print = now
            rate = self.rows / max(time.time() - self.first_started, 1e-9)
            line = (f"encoded {self.blocks}/{self.total_blocks} blocks, {self.rows:,}/{self.total_rows:,} images, "
                    f"{rate:,.0f} images/s" + (f", {self.failed} failed" if self.failed else ""))
            print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr, flush=True)


def encode_to_store(model_path: str | Path, dataset: str, out: str | Path, config: EncodeConfig | None = None,
                    on_report: Callable[[BlockReport], None] | None = None) -> EncodeSummary:
    """Encode every block of ``dataset`` with the model at ``model_path`` into the store ``out``,
    resuming a stopped run of the same model, dataset and block size."""
    from .sources import open_model

    config = config or EncodeConfig()
    start, start_wall = time.perf_counter(), time.time()
    if config.ray:
        from .ray_runner import import_ray

        import_ray()  # before anything is written: without Ray, say how to install it
    out = Path(out)
    model = open_model(model_path)
    manifest = make_manifest(model, model_path, dataset, config)
    start_store(out, manifest)
    pending = pending_blocks(manifest, out)
    resumed = manifest.num_blocks - len(pending)
    line = ProgressLine(sum(len(manifest.block_rows(b)) for b in pending), len(pending), config.progress)
    reports: list[BlockReport] = []

    def record(report: BlockReport) -> None:
        reports.append(report)
        line(report)
        if on_report:
            on_report(report)

    try:
        if not pending:
            engine_name, extra = "nothing to do", {}
        elif config.ray:
            from .ray_runner import run_on_ray

            model.close()
            engine_name, extra = run_on_ray(str(model_path), manifest, out, pending, config, record)
        else:
            engine_name, extra = "in process", {}
            if config.threads:
                import torch

                torch.set_num_threads(config.threads)
            from .engine import InferenceEngine

            engine = InferenceEngine(model)
            try:
                for block in pending:
                    record(encode_block(engine, manifest, out, block))
            finally:
                engine.close()
    finally:
        line.close()
    seconds = time.perf_counter() - start
    # block start times are wall-clock (they come from other processes, or nodes)
    setup = min((r.started for r in reports), default=start_wall + seconds) - start_wall
    return EncodeSummary(out, manifest, resumed, reports, seconds, setup, engine_name, extra)
