"""InferenceEngine: all model work for the app, batched, on the best device available.

One engine per checkpoint is shared by every browser session, so it is thread-safe: large
jobs take a lock around the model, and small concurrent decode requests (many people
dragging sliders) are coalesced by a worker thread into one batch, each caller getting its
own rows back.
"""
from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
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


@dataclass
class _Request:
    z: np.ndarray
    done: threading.Event
    result: np.ndarray | None = None
    error: BaseException | None = None


class InferenceEngine:
    def __init__(self, checkpoint: Checkpoint, device: str | torch.device | None = None,
                 batch_size: int | None = None, mixed_precision: bool = True,
                 coalesce_window_s: float = 0.002, max_coalesced: int = 512):
        self.checkpoint = checkpoint
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.model = checkpoint.model.to(self.device).eval()
        self.batch_size = batch_size or BATCH_SIZES.get(self.device.type, 256)
        self.autocast_dtype = None
        if mixed_precision and self.device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.coalesce_window_s = coalesce_window_s
        self.max_coalesced = max_coalesced
        self._lock = threading.Lock()
        self._requests: queue.Queue[_Request] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._worker_start = threading.Lock()
        self._callers = 0  # threads inside decode_coalesced: a full batch needs no more waiting
        self._callers_lock = threading.Lock()

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
        self._ensure_worker()
        request = _Request(z=z, done=threading.Event())
        with self._callers_lock:
            self._callers += 1
        try:
            self._requests.put(request)
            request.done.wait()
        finally:
            with self._callers_lock:
                self._callers -= 1
        if request.error is not None:
            raise request.error
        return request.result

    def _ensure_worker(self) -> None:
        with self._worker_start:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._serve, name="decode-coalescer", daemon=True)
                self._worker.start()

    def _serve(self) -> None:
        try:
            one_intra_op_thread()
        except Exception:  # only slower if it fails; a worker that never serves would hang its callers
            pass
        while True:
            batch = [self._requests.get()]
            rows = len(batch[0].z)
            # Gather what else arrives within the window, but stop as soon as every caller
            # now waiting is in the batch: waiting longer would only add latency.
            while rows < self.max_coalesced and len(batch) < self._callers:
                try:
                    nxt = self._requests.get(timeout=self.coalesce_window_s)
                except queue.Empty:
                    break
                batch.append(nxt)
                rows += len(nxt.z)
            try:
                images = self._batched(self._decode_fn, np.concatenate([r.z for r in batch]), None)[0]
                start = 0
                for r in batch:
                    r.result = images[start: start + len(r.z)]
                    start += len(r.z)
            except Exception as e:  # every waiting caller gets the error, none hangs
                for r in batch:
                    r.error = e
            for r in batch:
                r.done.set()

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
