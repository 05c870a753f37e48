"""InferenceEngine: all model work for the app, batched, on the best device available.

One engine per checkpoint is shared by every browser session, so it is thread-safe: large
jobs take a lock around the model, and small concurrent decode requests (many people
dragging sliders) are coalesced into batches, each caller getting its own rows back.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

from . import cache
from .checkpoint import Checkpoint
from .data import Dataset

DEVICE_ENV = "LATENT_EXPLORER_DEVICE"
BATCH_SIZES = {"cuda": 4096, "mps": 1024, "cpu": 256}
Progress = Callable[[float], None] | None


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA, then MPS, then CPU; ``preferred`` or $LATENT_EXPLORER_DEVICE overrides."""
    choice = preferred or os.environ.get(DEVICE_ENV)
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.cache
def _thread_controller() -> ThreadpoolController:
    return ThreadpoolController()  # after torch is imported, so its OpenMP library is found


def one_intra_op_thread() -> None:
    """Run the calling thread's torch CPU ops on that thread alone; other threads keep theirs.

    For the decode coalescer, whose batches are a few codes (a slider move: about 1 ms of
    work). With an OpenMP team of two, every such decode waited for the second thread to be
    scheduled, and on two cores busy with other work that took 100 to 280 ms; on one thread it
    took 1 to 7 ms. ``torch.set_num_threads`` would also change the default of every thread
    started later (Streamlit starts one per script run), so this thread's own OpenMP setting is
    changed instead, after torch's lazy per-thread set-up, which would otherwise overwrite it."""
    torch.get_num_threads()  # torch sets up this thread's OpenMP state on first use
    _thread_controller().limit(limits=1, user_api="openmp")  # not undone: the thread keeps it


@dataclass
class DatasetCodes:
    codes: np.ndarray  # (N, D) deterministic codes (the mean for a VAE)
    logvar: np.ndarray | None  # (N, D) log-variances for a VAE, else None
    errors: np.ndarray  # (N,) per-sample reconstruction MSE


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


class InferenceEngine:
    def __init__(self, checkpoint: Checkpoint, device: str | torch.device | None = None,
                 batch_size: int | None = None, mixed_precision: bool = True,
                 coalesce_window_s: float = 0.002, max_coalesced: int = 512, coalesce_lanes: int = 2):
        self.checkpoint = checkpoint
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.model = checkpoint.model.to(self.device).eval()
        self.batch_size = batch_size or BATCH_SIZES.get(self.device.type, 256)
        self.autocast_dtype = None
        if mixed_precision and self.device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.coalesce_window_s = coalesce_window_s
        self.max_coalesced = max_coalesced
        # Worker threads, each running one batch at a time: a request that arrives while a
        # batch runs starts at once in another lane instead of waiting for that batch to end.
        self.coalesce_lanes = coalesce_lanes
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._worker_start = threading.Lock()
        self._gathering = threading.Lock()  # one worker forms the next batch while others run theirs
        # Coalescing state, guarded by _arrivals: requests not yet in a batch, requests in a
        # running batch, and the threads inside decode_coalesced.
        self._arrivals = threading.Condition()
        self._pending: list[_Request] = []
        self._in_flight = 0
        self._callers = 0

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.model.input_shape

    def describe_device(self) -> str:
        if self.device.type == "cuda":
            precision = str(self.autocast_dtype).replace("torch.", "") if self.autocast_dtype else "float32"
            return f"CUDA ({torch.cuda.get_device_name(self.device)}, {precision})"
        return {"mps": "Apple GPU (MPS)", "cpu": "CPU"}.get(self.device.type, str(self.device))

    # --- batched work -------------------------------------------------------------------
    def _context(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _batched(self, fn: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], data: np.ndarray,
                 progress: Progress) -> tuple[np.ndarray, ...]:
        """Run ``fn`` over ``data`` in batches; outputs are float32 numpy arrays."""
        n = len(data)
        outputs: list[np.ndarray] | None = None
        with self._lock, torch.inference_mode(), self._context():
            for start in range(0, max(n, 1), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(data[start: start + self.batch_size]))
                results = fn(batch.to(self.device, non_blocking=True))
                if outputs is None:
                    outputs = [np.empty((n, *r.shape[1:]), dtype=np.float32) for r in results]
                for out, r in zip(outputs, results):
                    out[start: start + len(r)] = r.float().cpu().numpy()
                if progress:
                    progress(min(1.0, (start + len(batch)) / max(n, 1)))
        return tuple(outputs)

    def _check_images(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Float32 (N, C, H, W) of this model's shape. Finiteness is checked on the (much
        smaller) outputs: a NaN or inf pixel always reaches them."""
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        x = x.astype(np.float32, copy=False)
        if x.ndim == len(self.input_shape) and x.shape == tuple(self.input_shape):
            x = x[None]
        if x.shape[1:] != tuple(self.input_shape):
            raise ValueError(f"images of shape {list(x.shape[1:])} do not fit this model, which expects {list(self.input_shape)}")
        return x

    @staticmethod
    def _check_outputs(out: np.ndarray, x: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(out).reshape(len(out), -1).all(1) if len(out) else np.zeros(0, bool)
        if bad.any():
            rows = np.flatnonzero(bad)
            if not np.isfinite(x[rows]).all():
                raise ValueError(f"the images contain NaN or infinite values (e.g. image {rows[0]})")
            raise ValueError(f"the model produced non-finite values for {len(rows)} image(s) (e.g. image {rows[0]})")
        return out

    def _check_codes(self, z: np.ndarray | torch.Tensor) -> np.ndarray:
        z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
        z = np.atleast_2d(z.astype(np.float32, copy=False))
        if z.shape[1:] != (self.latent_dim,):
            raise ValueError(f"latent codes of size {z.shape[1:]} do not fit this model's latent size {self.latent_dim}")
        if not np.isfinite(z).all():
            raise ValueError("the latent codes contain NaN or infinite values")
        return z

    def _mean_fn(self, x):
        return (self.model.encode(x).mean,)

    def _encode_fn(self, x):
        enc = self.model.encode(x)
        return (enc.mean,) if enc.logvar is None else (enc.mean, enc.logvar)

    def _encode_and_score_fn(self, x):
        """Codes, per-image reconstruction MSE and, for a VAE, log-variances of a batch."""
        enc = self.model.encode(x)
        errors = (self.model.decode(enc.z).float() - x.float()).pow(2).flatten(1).mean(1)
        return (enc.mean, errors) if enc.logvar is None else (enc.mean, errors, enc.logvar)

    def _decode_fn(self, z):
        return (self.model.decode(z),)

    def _reconstruct_fn(self, x):
        return (self.model(x),)

    def encode(self, x, progress: Progress = None) -> np.ndarray:
        """(N, D) deterministic codes (the mean for a VAE)."""
        x = self._check_images(x)
        return self._check_outputs(self._batched(self._mean_fn, x, progress)[0], x)

    def encode_with_logvar(self, x, progress: Progress = None) -> tuple[np.ndarray, np.ndarray | None]:
        x = self._check_images(x)
        out = self._batched(self._encode_fn, x, progress)
        return self._check_outputs(out[0], x), (out[1] if len(out) > 1 else None)

    def decode(self, z, progress: Progress = None) -> np.ndarray:
        """(N, C, H, W) images in [0, 1]."""
        return self._batched(self._decode_fn, self._check_codes(z), progress)[0]

    def reconstruct(self, x, progress: Progress = None) -> np.ndarray:
        x = self._check_images(x)
        return self._check_outputs(self._batched(self._reconstruct_fn, x, progress)[0], x)

    # --- coalesced small requests -------------------------------------------------------
    def decode_coalesced(self, z) -> np.ndarray:
        """Decode a few codes; concurrent callers are served by one batched forward pass."""
        z = self._check_codes(z)
        self._ensure_workers()
        request = _Request(z)
        with self._arrivals:
            self._callers += 1
            self._pending.append(request)
            self._wake_worker_if_due()
        try:
            request.wait()
        finally:
            with self._arrivals:
                self._callers -= 1
                self._wake_worker_if_due()  # the batch may have been waiting for this caller
        if request.error is not None:
            raise request.error
        return request.result

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
        if len(self._workers) == self.coalesce_lanes:  # they never return; checked without the lock
            return
        with self._worker_start:
            while len(self._workers) < self.coalesce_lanes:
                worker = threading.Thread(target=self._serve, name="decode-coalescer", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _next_batch(self) -> list[_Request]:
        """Wait for a request, then up to the window for the rest of a batch, and take it."""
        with self._arrivals:
            while not self._pending:
                self._arrivals.wait()
            deadline = time.monotonic() + self.coalesce_window_s
            while (len(self._pending) < self._batch_target()
                   and sum(len(r.z) for r in self._pending) < self.max_coalesced):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrivals.wait(remaining)
            batch, rows = [], 0
            while self._pending and (not batch or rows + len(self._pending[0].z) <= self.max_coalesced):
                batch.append(self._pending.pop(0))
                rows += len(batch[-1].z)
            self._in_flight += len(batch)
            return batch

    def _serve(self) -> None:
        if self.device.type == "cpu":
            try:
                one_intra_op_thread()
            except Exception:  # only slower if it fails; a worker that never serves would hang its callers
                pass
        while True:
            with self._gathering:
                batch = self._next_batch()
            try:
                images = self._decode_small(np.concatenate([r.z for r in batch]))
                start = 0
                for r in batch:
                    r.result = images[start: start + len(r.z)]
                    start += len(r.z)
            except Exception as e:  # every caller in the batch gets the error, none hangs
                for r in batch:
                    r.error = e
            with self._arrivals:
                self._in_flight -= len(batch)
            for r in batch:
                r.finish()

    def _decode_small(self, z: np.ndarray) -> np.ndarray:
        """One coalesced batch, without the engine's lock: forward passes in inference mode only
        read the weights, so lanes run side by side and a slider need not wait for a dataset."""
        with torch.inference_mode(), self._context():
            return self.model.decode(torch.from_numpy(z).to(self.device)).float().cpu().numpy()

    # --- datasets, cached on disk -------------------------------------------------------
    def encode_dataset(self, dataset: Dataset, progress: Progress = None) -> DatasetCodes:
        """Codes, log-variances and reconstruction errors of a whole dataset, cached on disk
        under the checkpoint's content hash and the dataset's identity."""
        entry = cache.key("encoding", self.checkpoint.content_hash, dataset.identity)
        hit = cache.load("encodings", entry)
        if hit is not None and hit["codes"].shape == (len(dataset.x), self.latent_dim):
            return DatasetCodes(hit["codes"], hit.get("logvar"), hit["errors"])
        x = self._check_images(dataset.x)
        # One pass: each batch is encoded once and its codes decoded (the model's forward is
        # decode(encode(x).z)); encoding again for the errors made a fresh start 1.3 s slower.
        out = self._batched(self._encode_and_score_fn, x, progress)
        codes, errors = self._check_outputs(out[0], x), self._check_outputs(out[1], x)
        logvar = out[2] if len(out) > 2 else None
        arrays = {"codes": codes, "errors": errors, **({"logvar": logvar} if logvar is not None else {})}
        cache.store("encodings", entry, **arrays)
        return DatasetCodes(codes, logvar, errors)
