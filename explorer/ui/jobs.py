"""Background jobs (the slow maps), one fair queue for every session of the server.

Each job runs once however many sessions ask for it: looking a key up and submitting it happen
under one lock. A failed job stays failed (its future raises the error, which the page shows)
instead of starting again on every rerun, and is started again when asked for after
RETRY_AFTER_S. Finished results are kept within MAX_BYTES, least recently asked for evicted
first (an evicted map is recomputed from the disk cache); failure records are bounded too.

Fairness, since one worker serves everyone:
- a session waits for one job at a time: asking for another takes it off the one it waited for
  (one session clicking through t-SNE seeds queues one map, not eight);
- a job nobody waits for any more (every session that asked moved on, or stopped polling for
  WAITER_TIMEOUT_S: its tab was closed) is cancelled: taken off the queue if it has not started,
  stopped at its next progress report if it has;
- at most ``settings.map_queue`` jobs wait to start; past that, a new one is refused with ``Busy``.
Jobs the server itself asks for (``session=None``: the maps warmed at start) are never cancelled.

Workers get plain data and report to this module's plain objects: a worker thread has no
Streamlit script context, so it must never call a Streamlit-cached function (that logs
"missing ScriptRunContext" on the server).
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import settings

MAX_BYTES = 512 * 2**20  # finished results kept in memory
MAX_FAILURES = 256  # failure records kept; the oldest go first, with their failed futures
RETRY_AFTER_S = 60.0  # a failed job is started again when asked for after this long
WORKERS = 1  # on a small machine two t-SNE fits at once only slow each other down
WAITER_TIMEOUT_S = 120.0  # a session that has not asked about its job for this long has gone


def max_queued() -> int:
    """Jobs that may wait to start, from every session together."""
    return settings.read().map_queue


def maps_are(count: int) -> str:
    return f"{count} map is" if count == 1 else f"{count} maps are"


class Busy(RuntimeError):
    """The queue is full: the job was not queued; the message says so and what to do."""


class Cancelled(Exception):
    """Raised inside a running job that nobody waits for any more, at its next progress report."""


@dataclass
class JobStatus:
    state: str  # "queued", "running", "done", "failed", "cancelled" (or "unknown": not in the store)
    ahead: int = 0  # jobs that start before it (queued earlier, or running)
    progress: float = 0.0


@dataclass
class _Job:
    future: Future | None = None
    size: int = 0  # bytes of its result once done
    progress: float = 0.0
    order: int = 0  # when it was queued: the queue is first in, first out
    started: bool = False
    kept: bool = False  # asked for by the server itself: never cancelled
    waiters: dict[str, float] = field(default_factory=dict)  # session -> when it last asked about the job
    cancel: threading.Event = field(default_factory=threading.Event)


class JobStore:
    def __init__(self, max_bytes: int = MAX_BYTES, max_failures: int = MAX_FAILURES,
                 retry_after_s: float = RETRY_AFTER_S, workers: int = WORKERS,
                 max_queued: Callable[[], int] = max_queued, waiter_timeout_s: float = WAITER_TIMEOUT_S):
        self.max_bytes, self.max_failures, self.retry_after_s = max_bytes, max_failures, retry_after_s
        self.workers, self.max_queued, self.waiter_timeout_s = workers, max_queued, waiter_timeout_s
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, _Job] = OrderedDict()  # least recently asked for first
        self._failed_at: OrderedDict[str, float] = OrderedDict()  # key -> time.monotonic() of its failure
        self._wanted: dict[str, str] = {}  # session -> the key of the job it waits for
        self._executor: ThreadPoolExecutor | None = None
        self._counter = itertools.count()

    def submit(self, key: str, fn: Callable, *args, session: str | None = None) -> Future:
        """The job ``key``: the one already queued, running or done, else ``fn(*args, progress)``
        queued now, where ``progress(fraction)`` records how far it got. ``session`` waits for it
        from now on (and no longer for the job it waited for before); None: the server's own job.
        A failed job is started again only after ``retry_after_s``; until then its failed future
        is returned. Raises Busy when the queue is full."""
        with self._lock:
            now = time.monotonic()
            self._sweep(now)
            job = self._jobs.get(key)
            failed_at = self._failed_at.get(key)
            if job is not None and (failed_at is None or now - failed_at < self.retry_after_s):
                self._jobs.move_to_end(key)
                self._wait_for(key, job, session, now)
                return job.future
            queued = sum(1 for j in self._jobs.values() if not j.started and not j.future.done())
            replaced = self._wanted.get(session) if session is not None else None
            if replaced is not None and replaced in self._jobs and not self._jobs[replaced].started:
                queued -= set(self._jobs[replaced].waiters) == {session}  # its place is this one's
            if queued >= self.max_queued():
                raise Busy(f"the server is busy: {maps_are(queued)} already waiting to be computed. Try again in a "
                           "minute")
            self._failed_at.pop(key, None)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="explorer-job")
            job = _Job(order=next(self._counter), kept=session is None)
            # the worker records its outcome under the lock held here, so never before this returns
            job.future = self._executor.submit(self._run, key, job, fn, args)
            self._jobs[key] = job
            self._wait_for(key, job, session, now)
            return job.future

    def _wait_for(self, key: str, job: _Job, session: str | None, now: float) -> None:
        """``session`` now waits for ``job`` (and for no other)."""
        if session is None:
            job.kept = True
            return
        previous = self._wanted.get(session)
        self._wanted[session] = key
        job.waiters[session] = now
        if previous is not None and previous != key and previous in self._jobs:
            left = self._jobs[previous]
            left.waiters.pop(session, None)
            self._cancel_if_unwanted(previous, left)

    def _sweep(self, now: float) -> None:
        """Forget sessions that stopped asking; cancel the jobs nobody waits for any more."""
        for key, job in list(self._jobs.items()):
            stale = [s for s, seen in job.waiters.items() if now - seen > self.waiter_timeout_s]
            for session in stale:
                del job.waiters[session]
                if self._wanted.get(session) == key:
                    del self._wanted[session]
            if stale:
                self._cancel_if_unwanted(key, job)
        for session in [s for s, key in self._wanted.items() if key not in self._jobs]:  # its job is gone
            del self._wanted[session]

    def _cancel_if_unwanted(self, key: str, job: _Job) -> None:
        if job.kept or job.waiters or job.future.done():
            return
        job.cancel.set()  # a running job stops at its next progress report
        job.future.cancel()  # a queued one never starts
        del self._jobs[key]

    def _run(self, key: str, job: _Job, fn: Callable, args: tuple):
        with self._lock:
            job.started = True

        def progress(fraction: float) -> None:
            if job.cancel.is_set():
                raise Cancelled(key)
            job.progress = float(fraction)

        try:
            result = fn(*args, progress)
        except Cancelled:
            raise CancelledError(f"nobody waits for the job {key} any more") from None
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

    def status(self, key: str, session: str | None = None) -> JobStatus:
        """Where the job stands; asking about it also tells the store ``session`` still waits."""
        with self._lock:
            now = time.monotonic()
            job = self._jobs.get(key)
            if job is not None and session is not None and session in job.waiters:
                job.waiters[session] = now
            self._sweep(now)
            if job is None or key not in self._jobs:
                return JobStatus("cancelled" if job is not None else "unknown")
            if job.future.done():
                return JobStatus("cancelled" if job.future.cancelled() else
                                 "failed" if job.future.exception() is not None else "done", 0, job.progress)
            running = sum(1 for j in self._jobs.values() if j.started and not j.future.done())
            if job.started:
                return JobStatus("running", 0, job.progress)
            earlier = sum(1 for j in self._jobs.values()
                          if not j.started and not j.future.done() and j.order < job.order)
            return JobStatus("queued", running + earlier, 0.0)

    def queued(self) -> int:
        """Jobs waiting to start."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if not j.started and not j.future.done())

    def clear(self) -> None:
        """Forget every job (queued ones are cancelled, running ones finish unrecorded) and failure."""
        with self._lock:
            for job in self._jobs.values():
                job.future.cancel()
            self._jobs.clear()
            self._failed_at.clear()
            self._wanted.clear()


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


def submit(key: str, fn: Callable, *args, session: str | None = None) -> Future:
    return STORE.submit(key, fn, *args, session=session)


def progress(key: str) -> float:
    return STORE.progress(key)


def get(key: str) -> Future | None:
    return STORE.get(key)


def status(key: str, session: str | None = None) -> JobStatus:
    return STORE.status(key, session)


def clear() -> None:
    """Reset the store (between tests)."""
    STORE.clear()
