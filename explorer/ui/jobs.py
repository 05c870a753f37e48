"""Background jobs (the slow maps), one store for every session of the server.

Each job runs once however many sessions ask for it: looking a key up and submitting it happen
under one lock. A failed job stays failed (its future raises the error, which the page shows)
instead of starting again on every rerun, and is started again when asked for after
RETRY_AFTER_S. Finished results are kept within MAX_BYTES, least recently asked for evicted
first (an evicted map is recomputed from the disk cache); failure records are bounded too.

Workers get plain data and report to this module's plain objects: a worker thread has no
Streamlit script context, so it must never call a Streamlit-cached function (that logs
"missing ScriptRunContext" on the server).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

MAX_BYTES = 512 * 2**20  # finished results kept in memory
MAX_FAILURES = 256  # failure records kept; the oldest go first, with their failed futures
RETRY_AFTER_S = 60.0  # a failed job is started again when asked for after this long
WORKERS = 1  # on a small machine two t-SNE fits at once only slow each other down


@dataclass
class _Job:
    future: Future | None = None
    size: int = 0  # bytes of its result once done
    progress: float = 0.0


class JobStore:
    def __init__(self, max_bytes: int = MAX_BYTES, max_failures: int = MAX_FAILURES,
                 retry_after_s: float = RETRY_AFTER_S, workers: int = WORKERS):
        self.max_bytes, self.max_failures, self.retry_after_s = max_bytes, max_failures, retry_after_s
        self.workers = workers
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, _Job] = OrderedDict()  # least recently asked for first
        self._failed_at: OrderedDict[str, float] = OrderedDict()  # key -> time.monotonic() of its failure
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, key: str, fn: Callable, *args) -> Future:
        """The job ``key``: the one already running or done, else ``fn(*args, progress)`` started
        now, where ``progress(fraction)`` records how far it got. A failed job is started again
        only after ``retry_after_s``; until then its failed future is returned."""
        with self._lock:
            job = self._jobs.get(key)
            failed_at = self._failed_at.get(key)
            if job is not None and (failed_at is None or time.monotonic() - failed_at < self.retry_after_s):
                self._jobs.move_to_end(key)
                return job.future
            self._failed_at.pop(key, None)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="explorer-job")
            job = _Job()
            # the worker records its outcome under the lock held here, so never before this returns
            job.future = self._executor.submit(self._run, key, job, fn, args)
            self._jobs[key] = job
            self._jobs.move_to_end(key)
            return job.future

    def _run(self, key: str, job: _Job, fn: Callable, args: tuple):
        def progress(fraction: float) -> None:
            job.progress = float(fraction)

        try:
            result = fn(*args, progress)
        except Exception:  # any library error: kept in the future for the page, and recorded here
            with self._lock:
                self._failed_at[key] = time.monotonic()
                self._failed_at.move_to_end(key)
                while len(self._failed_at) > self.max_failures:
                    stale, _ = self._failed_at.popitem(last=False)
                    self._jobs.pop(stale, None)
            raise
        with self._lock:
            job.size = size_of(result)
            job.progress = 1.0
            self._evict()
        return result

    def _evict(self) -> None:
        """Drop finished results, least recently asked for first, until they fit MAX_BYTES."""
        used = sum(job.size for job in self._jobs.values())
        for key in list(self._jobs):
            if used <= self.max_bytes:
                break
            job = self._jobs[key]
            if job.future.done() and key not in self._failed_at:
                used -= job.size
                del self._jobs[key]

    def get(self, key: str) -> Future | None:
        """The job ``key`` if it was submitted (running, done or failed), without starting it."""
        with self._lock:
            job = self._jobs.get(key)
            return None if job is None else job.future

    def progress(self, key: str) -> float:
        job = self._jobs.get(key)
        return 0.0 if job is None else job.progress

    def clear(self) -> None:
        """Forget every job (running ones finish unrecorded) and failure."""
        with self._lock:
            self._jobs.clear()
            self._failed_at.clear()


def size_of(value, _seen: set | None = None, _depth: int = 0) -> int:
    """Bytes held by the numpy arrays reachable from ``value`` (through attributes, dicts and
    sequences, a few levels deep): what a kept result costs in memory."""
    seen = set() if _seen is None else _seen
    if id(value) in seen or _depth > 4:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, (list, tuple)):
        children = list(value)
    elif hasattr(value, "__dict__"):
        children = list(vars(value).values())
    else:
        return 0
    return sum(size_of(child, seen, _depth + 1) for child in children)


STORE = JobStore()


def submit(key: str, fn: Callable, *args) -> Future:
    return STORE.submit(key, fn, *args)


def progress(key: str) -> float:
    return STORE.progress(key)


def get(key: str) -> Future | None:
    return STORE.get(key)


def clear() -> None:
    """Reset the store (between tests)."""
    STORE.clear()
