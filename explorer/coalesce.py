"""Many small concurrent decodes -> one batched forward pass, each caller getting its rows.

A ``Coalescer`` owns its worker threads ("lanes") and holds only the function that runs a
batch, never the engine that made it: an engine nobody references any more can be freed,
and ``close()`` (which the engine's own ``close()`` and finaliser call) ends the threads.
After ``close()`` a caller is served directly on its own thread, so a session still holding
an engine that the cache has evicted keeps working.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

JOIN_TIMEOUT_S = 5.0


class _Request:
    """One caller's codes and, once its batch has run, its rows or the batch's error."""

    __slots__ = ("z", "result", "error", "_done")

    def __init__(self, z: np.ndarray):
        self.z = z
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None
        # A lock held until the result is in: waiting on it is one C-level call, where an
        # Event's pure-Python Condition cost each of many waking callers measurably.
        self._done = threading.Lock()
        self._done.acquire()

    def finish(self) -> None:
        self._done.release()

    def wait(self) -> None:
        self._done.acquire()


class Coalescer:
    """``submit(z)`` blocks until ``run`` has decoded ``z`` within some batch.

    ``run`` maps (N, D) float32 codes to N outputs; it must be safe to call from ``lanes``
    threads at once (pass ``lanes=1`` where it is not, e.g. on Apple's MPS device).
    ``worker_setup`` runs once on each worker thread before it serves (e.g. thread limits);
    a failure there is ignored: a worker that never serves would hang its callers."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], lanes: int = 2, window_s: float = 0.002,
                 max_rows: int = 512, worker_setup: Callable[[], None] | None = None,
                 name: str = "decode-coalescer", caller_runs: bool = False):
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        self._run = run
        self.lanes = lanes
        self.window_s = window_s
        self.max_rows = max_rows
        self._worker_setup = worker_setup
        self._name = name
        # A caller that finds nothing pending and nothing running decodes on its own thread: no
        # hand-off (a thread wake-up each way) for a lone slider. Only where ``run`` sets up its
        # own threads (an onnxruntime session); torch would use the caller's OpenMP team.
        self.caller_runs = caller_runs
        self._workers: list[threading.Thread] = []
        self._worker_start = threading.Lock()
        self._gathering = threading.Lock()  # one worker forms the next batch while others run theirs
        # Guarded by _arrivals: requests not yet in a batch, requests in a running batch, the
        # threads inside submit, and whether close() was called.
        self._arrivals = threading.Condition()
        self._pending: list[_Request] = []
        self._in_flight = 0
        self._callers = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._workers)

    def submit(self, z: np.ndarray) -> np.ndarray:
        with self._arrivals:
            if self._closed:
                request = None
            elif self.caller_runs and not self._pending and self._in_flight == 0 and self._callers == 0:
                self._callers += 1
                self._in_flight += 1  # later arrivals wait for a lane, as if this ran in one
                request = False
            else:
                self._callers += 1
                request = _Request(z)
                self._pending.append(request)
                self._wake_worker_if_due()
        if request is None:
            return self._run(z)
        if request is False:
            try:
                return self._run(z)
            finally:
                with self._arrivals:
                    self._in_flight -= 1
                    self._callers -= 1
                    self._wake_worker_if_due()
        self._ensure_workers()
        request.wait()  # the lane has counted this caller out: waking takes no lock here
        if request.error is not None:
            raise request.error
        return request.result

    def close(self) -> None:
        """Stop the worker threads once the requests already submitted are served. Idempotent;
        callable from any thread (a worker does not wait for itself)."""
        with self._arrivals:
            self._closed = True
            self._arrivals.notify_all()
        with self._worker_start:
            workers = list(self._workers)
        current = threading.current_thread()
        for worker in workers:
            if worker is not current:
                worker.join(JOIN_TIMEOUT_S)

    # --- the lanes ----------------------------------------------------------------------
    def _batch_target(self) -> int:
        """Requests worth waiting for: every caller not in a running batch (one just served may
        come straight back). Splitting them over the lanes was measured too: slower for the MLP
        (2.7x against 3.6x direct) and no faster for the conv model, the hand-offs doubling."""
        return max(1, self._callers - self._in_flight)

    def _wake_worker_if_due(self) -> None:
        """Wake the gathering worker when a batch opens and when it is complete, not on every
        arrival: wake-ups (thread switches), not arithmetic, dominate small decodes."""
        if len(self._pending) == 1 or (self._pending and len(self._pending) >= self._batch_target()):
            self._arrivals.notify()

    def _ensure_workers(self) -> None:
        if len(self._workers) == self.lanes or self._closed:  # checked without the lock first
            return
        with self._worker_start:
            while len(self._workers) < self.lanes and not self._closed:
                worker = threading.Thread(target=self._serve, name=self._name, daemon=True)
                worker.start()
                self._workers.append(worker)

    def _next_batch(self) -> list[_Request] | None:
        """Wait for a request, then up to the window for the rest of a batch, and take it;
        None once closed with nothing left to serve."""
        with self._arrivals:
            while not self._pending and not self._closed:
                self._arrivals.wait()
            if not self._pending:
                return None
            deadline = time.monotonic() + self.window_s
            while (not self._closed and len(self._pending) < self._batch_target()
                   and sum(len(r.z) for r in self._pending) < self.max_rows):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrivals.wait(remaining)
            batch, rows = [], 0
            while self._pending and (not batch or rows + len(self._pending[0].z) <= self.max_rows):
                batch.append(self._pending.pop(0))
                rows += len(batch[-1].z)
            self._in_flight += len(batch)
            return batch

    def _serve(self) -> None:
        if self._worker_setup is not None:
            try:
                self._worker_setup()
            except Exception:  # only slower if it fails
                pass
        while True:
            with self._gathering:
                batch = self._next_batch()
            if batch is None:
                return
            try:
                outputs = self._run(np.concatenate([r.z for r in batch]))
                start = 0
                for r in batch:
                    r.result = outputs[start: start + len(r.z)]
                    start += len(r.z)
            except Exception as e:  # every caller in the batch gets the error, none hangs
                for r in batch:
                    r.error = e
            with self._arrivals:
                # Its callers leave submit: counted out here, in one step, so that none of them
                # takes the lock again on waking (the pending share of the callers is unchanged).
                self._in_flight -= len(batch)
                self._callers -= len(batch)
            for r in batch:
                r.finish()
            del batch  # a closed, idle worker must not keep the last results alive
