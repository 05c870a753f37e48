"""InferenceEngine: all model work for the app, batched, on the best device available.

It works on the model contract (``explorer.model_contract.Model``), so nothing above it knows where
a model came from. One engine per model is shared by every browser session, so it is
thread-safe: large jobs take a lock around the model, and small concurrent decode requests
(many people dragging sliders) are coalesced into batches (``explorer.coalesce``), each caller
getting its own rows back. ``close()`` stops the coalescer's threads; an engine nobody holds
any more is freed and closes them itself.
"""
from __future__ import annotations

import contextlib
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from . import cache, settings
from .coalesce import Coalescer
from .data import Dataset, UnitImages
from .model_contract import Model
from .runtimes import OnnxRunner, TorchRuntime
from .safe_read import CheckpointError
from .sources import as_model
from .sources.export import exported_runner

FLOAT32 = np.dtype(np.float32)
RUNTIMES = ("onnxruntime", "torch")
BATCH_SIZES = {"cuda": 4096, "mps": 1024, "cpu": 256}
# Devices whose backend does not support forward passes from two threads at once (PyTorch's
# MPS backend): there the coalescer runs one lane, under the engine's lock.
SERIAL_DEVICE_TYPES = frozenset({"mps"})
Progress = Callable[[float], None] | None


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA, then MPS, then CPU; ``preferred`` or $LATENT_EXPLORER_DEVICE overrides."""
    choice = preferred or settings.read().device
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class DatasetCodes:
    codes: np.ndarray  # (N, D) deterministic codes (the mean for a VAE)
    logvar: np.ndarray | None  # (N, D) log-variances for a VAE, else None
    errors: np.ndarray  # (N,) per-sample reconstruction MSE


class InferenceEngine:
    def __init__(self, model: Model | Any, device: str | torch.device | None = None,
                 batch_size: int | None = None, mixed_precision: bool = True,
                 coalesce_window_s: float = 0.002, max_coalesced: int = 512, coalesce_lanes: int = 2,
                 runtime: str | None = None):
        """``runtime``: "onnxruntime" or "torch"; by default (or $LATENT_EXPLORER_RUNTIME)
        onnxruntime on the CPU wherever the model exports, torch on CUDA / MPS and when the
        export fails (``runtime_note`` says why)."""
        self.source = as_model(model)
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.batch_size = batch_size or BATCH_SIZES.get(self.device.type, 256)
        self.autocast_dtype = None
        if mixed_precision and self.device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self._lock = threading.Lock()
        self.runtime_note = ""
        self.runtime = self._make_runtime(runtime or settings.read().runtime)
        self.serial_forward = self.device.type in SERIAL_DEVICE_TYPES
        # Worker threads, each running one batch at a time: a request that arrives while a
        # batch runs starts at once in another lane instead of waiting for that batch to end.
        # The coalescer gets a function that holds the runtime, never this engine.
        self._coalescer = Coalescer(_small_decoder(self.runtime, self._lock if self.serial_forward else None),
                                    lanes=1 if self.serial_forward else coalesce_lanes,
                                    window_s=coalesce_window_s, max_rows=max_coalesced,
                                    worker_setup=self.runtime.worker_setup,
                                    caller_runs=self.runtime.caller_runs)
        self._finalizer = weakref.finalize(self, self._coalescer.close)
        self._finalizer.atexit = False

    def _make_runtime(self, wanted: str | None):
        if wanted is not None and wanted not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {wanted!r}")
        parts = self.source.torch_parts()
        if parts is None or wanted == "onnxruntime" or (wanted is None and self.device.type == "cpu"):
            try:
                return self._onnx_runtime()
            except CheckpointError as e:
                if parts is None:
                    raise
                self.runtime_note = f"PyTorch: the ONNX export failed ({str(e)[:200]})"
        return TorchRuntime(parts, self.device, self.autocast_dtype)

    def _onnx_runtime(self) -> OnnxRunner:
        """onnxruntime on the CPU: the model's own graphs, or its export, cached by content hash."""
        runner = self.source.onnx_runner() or exported_runner(self.source)
        if self.device.type != "cpu":
            self.runtime_note = "onnxruntime on the CPU (an ONNX model has no PyTorch form)"
            self.device = torch.device("cpu")
            self.batch_size = BATCH_SIZES["cpu"]
            self.autocast_dtype = None
        return runner

    @property
    def latent_dim(self) -> int:
        return self.source.latent_dim

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.source.input_shape)

    @property
    def coalescer(self) -> Coalescer:
        return self._coalescer

    @property
    def coalesce_window_s(self) -> float:
        return self._coalescer.window_s

    @coalesce_window_s.setter
    def coalesce_window_s(self, value: float) -> None:
        self._coalescer.window_s = value

    def describe_device(self) -> str:
        """The device and runtime that run the model, for its card: "CPU, onnxruntime", "CUDA (…, bfloat16)"."""
        if self.device.type == "cuda":
            precision = str(self.autocast_dtype).replace("torch.", "") if self.autocast_dtype else "float32"
            return f"CUDA ({torch.cuda.get_device_name(self.device)}, {precision})"
        where = {"mps": "Apple GPU (MPS)", "cpu": "CPU"}.get(self.device.type, str(self.device))
        return f"{where}, {self.runtime_note or self.runtime.name}"

    def memory_bytes(self) -> int:
        """What this engine holds in memory, estimated from its weights in every form it keeps
        them: the source's PyTorch modules and each onnxruntime session's copy of its graph."""
        total = int(getattr(self.runtime, "memory_bytes", 0))
        parts = self.source.torch_parts()
        for module in (parts.encoder, parts.decoder) if parts is not None else ():
            if isinstance(module, torch.nn.Module):
                tensors = [*module.parameters(), *module.buffers()]
                total += sum(t.numel() * t.element_size() for t in {id(t): t for t in tensors}.values())
        return total

    def close(self) -> None:
        """Stop the coalescer's threads (idempotent). The engine stays usable: a later
        coalesced decode is served on its caller's thread."""
        self._finalizer()

    # --- batched work -------------------------------------------------------------------
    def _context(self):
        """The autocast context of this engine's device (for benchmarks' bare loops)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _batched(self, fn: Callable[[np.ndarray], tuple[np.ndarray, ...]], data: np.ndarray,
                 progress: Progress) -> tuple[np.ndarray, ...]:
        """Run ``fn`` (a runtime method) over ``data`` in batches; outputs are float32 arrays."""
        n = len(data)
        outputs: list[np.ndarray] | None = None
        with self._lock:
            for start in range(0, max(n, 1), self.batch_size):
                batch = data[start: start + self.batch_size]
                results = fn(batch)
                if outputs is None:
                    outputs = [np.empty((n, *r.shape[1:]), dtype=np.float32) for r in results]
                for out, r in zip(outputs, results):
                    out[start: start + len(r)] = r
                if progress:
                    progress(min(1.0, (start + len(batch)) / max(n, 1)))
        return tuple(outputs)

    def _check_images(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Float32 (N, C, H, W) of this model's shape. Finiteness is checked on the (much
        smaller) outputs: a NaN or inf pixel always reaches them. A memory-mapped uint8 store
        stays as it is: batches are converted as they are read, never the whole dataset at once."""
        if not isinstance(x, UnitImages):
            x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
            x = x.astype(np.float32, copy=False)
            if x.ndim == len(self.input_shape) and x.shape == tuple(self.input_shape):
                x = x[None]
        if tuple(x.shape[1:]) != tuple(self.input_shape):
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
        # On every slider move: plain attribute checks first (a float32 array needs no copy)
        if type(z) is not np.ndarray:
            z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
        if z.dtype is not FLOAT32:
            z = z.astype(np.float32)
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"latent codes of size {z.shape[1:]} do not fit this model's latent size {self.latent_dim}")
        if not np.isfinite(z).all():
            raise ValueError("the latent codes contain NaN or infinite values")
        return z

    def encode(self, x, progress: Progress = None) -> np.ndarray:
        """(N, D) deterministic codes (the mean for a VAE)."""
        x = self._check_images(x)
        return self._check_outputs(self._batched(self.runtime.encode, x, progress)[0], x)

    def encode_with_logvar(self, x, progress: Progress = None) -> tuple[np.ndarray, np.ndarray | None]:
        x = self._check_images(x)
        out = self._batched(self.runtime.encode, x, progress)
        return self._check_outputs(out[0], x), (out[1] if len(out) > 1 else None)

    def decode(self, z, progress: Progress = None) -> np.ndarray:
        """(N, C, H, W) images in [0, 1]."""
        return self._batched(self.runtime.decode, self._check_codes(z), progress)[0]

    def reconstruct(self, x, progress: Progress = None) -> np.ndarray:
        x = self._check_images(x)
        return self._check_outputs(self._batched(self.runtime.reconstruct, x, progress)[0], x)

    def score(self, x, progress: Progress = None) -> DatasetCodes:
        """Codes, log-variances (a VAE's, else None) and per-image reconstruction MSE of a batch
        of images, in one pass and without the disk cache: what a block of a store needs."""
        x = self._check_images(x)
        # One pass: each batch is encoded once and its codes decoded (the model's forward is
        # decode(encode(x).z)); encoding again for the errors made a fresh start 1.3 s slower.
        out = self._batched(self.runtime.score, x, progress)
        codes, errors = self._check_outputs(out[0], x), self._check_outputs(out[1], x)
        return DatasetCodes(codes, out[2] if len(out) > 2 else None, errors)

    # --- coalesced small requests -------------------------------------------------------
    def decode_coalesced(self, z) -> np.ndarray:
        """Decode a few codes; concurrent callers are served by one batched forward pass."""
        return self._coalescer.submit(self._check_codes(z))

    # --- datasets, cached on disk -------------------------------------------------------
    def encode_dataset(self, dataset: Dataset, progress: Progress = None) -> DatasetCodes:
        """Codes, log-variances and reconstruction errors of a whole dataset, cached on disk
        under the checkpoint's content hash and the dataset's identity."""
        entry = cache.key("encoding", self.source.content_hash, dataset.identity)
        hit = cache.load("encodings", entry)
        if hit is not None and hit["codes"].shape == (len(dataset.x), self.latent_dim):
            return DatasetCodes(hit["codes"], hit.get("logvar"), hit["errors"])
        scored = self.score(dataset.x, progress)
        arrays = {"codes": scored.codes, "errors": scored.errors,
                  **({"logvar": scored.logvar} if scored.logvar is not None else {})}
        cache.store("encodings", entry, **arrays)
        return scored


def _small_decoder(runtime, lock: threading.Lock | None) -> Callable[[np.ndarray], np.ndarray]:
    """What the coalescer runs: the runtime's small decode (looked up per call, so a test may
    replace it), under ``lock`` where the device needs forward passes one at a time."""
    if lock is None:
        return lambda z: runtime.decode_small(z)

    def serial(z: np.ndarray) -> np.ndarray:
        with lock:
            return runtime.decode_small(z)

    return serial
