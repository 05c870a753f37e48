"""The Python source: a user's adapter file that returns an encoder and a decoder.

An adapter is a ``.py`` file defining ``explorer_model()``, which returns a dict::

    {"encoder": ...,              # any nn.Module or callable: images -> code, or (mean, logvar)
     "decoder": ...,              # any nn.Module or callable: code -> images
     "input_shape": [1, 28, 28],  # [C, H, W]
     "input_layout": "flat",      # what the encoder takes: "NCHW" (default), "NHWC" or "flat" (N, C*H*W)
     "pixel_range": [0, 1],       # or [-1, 1] / [0, 255]: the encoder's input and the decoder's output
     "name": "my-model",          # optional; default: the file's name
     "training": {...}}           # optional figures for the model card (test_mse, ...)

The decoder may return its images in any shape holding C*H*W values per row, in the same
layout. Loading weights is the adapter's business (any format it likes).

It runs the user's code, so the app accepts it only from the person who starts the server:
``streamlit run app.py -- --model path/to/adapter.py`` (repeatable) or the environment variable
``LATENT_EXPLORER_MODELS`` (os.pathsep-separated). A path typed or uploaded in the browser is
refused (``sources.open_user_model``); from Python, ``open_model("adapter.py")`` runs it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import settings
from ..model_contract import (LAYOUTS, PIXEL_RANGES, Model, TorchParts, TrainingRecord, checked_shape,
                              from_model_space, to_model_space)
from ..safe_read import CheckpointError

ADAPTER_FUNCTION = "explorer_model"
KEYS = {"encoder", "decoder", "input_shape", "input_layout", "pixel_range", "name", "training"}
_import_lock = threading.Lock()
_counter = [0]


# --- which adapters the server's starter named ------------------------------------------------
def open_registered(path: str | Path, argv: list[str] | None = None, environ: dict | None = None) -> "PythonModel":
    """Run an adapter only if the server's starter named it."""
    resolved = Path(path).expanduser().resolve()
    if resolved not in settings.server_models(argv, environ):
        raise CheckpointError(f"{Path(path).name}: a Python adapter runs only when the person who starts the server "
                              "names it (--model / $LATENT_EXPLORER_MODELS)")
    return open_python(resolved)


# --- running an adapter -------------------------------------------------------------------------
def run_adapter(path: Path) -> dict:
    """Import the file as a fresh module (its folder importable meanwhile) and call explorer_model()."""
    if not path.is_file():
        raise CheckpointError(f"{path.name}: no such adapter file")
    with _import_lock:
        _counter[0] += 1
        module_name = f"_latent_explorer_adapter_{_counter[0]}_{path.stem}"
        folder = str(path.parent)
        added = folder not in sys.path
        if added:
            sys.path.insert(0, folder)
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise CheckpointError(f"{path.name}: cannot be imported as Python")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except CheckpointError:
                raise
            except BaseException as e:  # SystemExit too: an adapter must not stop the server
                raise CheckpointError(f"{path.name}: the adapter failed while being imported ({type(e).__name__}: "
                                      f"{' '.join(str(e).split())[:300]})") from None
        finally:
            if added and folder in sys.path:
                sys.path.remove(folder)
    fn = getattr(module, ADAPTER_FUNCTION, None)
    if not callable(fn):
        raise CheckpointError(f"{path.name}: an adapter must define {ADAPTER_FUNCTION}(), returning a dict with "
                              "encoder, decoder and input_shape")
    try:
        spec = fn()
    except BaseException as e:
        raise CheckpointError(f"{path.name}: {ADAPTER_FUNCTION}() failed ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:300]})") from None
    if not isinstance(spec, dict):
        raise CheckpointError(f"{path.name}: {ADAPTER_FUNCTION}() must return a dict, got {type(spec).__name__}")
    return spec


class AdapterEncoder(nn.Module):
    """x (N, C, H, W) in [0, 1] -> (mean,) or (mean, logvar) through the adapter's encoder, in its layout."""

    def __init__(self, fn, shape, layout, pixel_range):
        super().__init__()
        self.fn = fn  # an nn.Module is registered as a submodule; a plain callable is kept as is
        self.shape, self.layout, self.pixel_range = tuple(shape), layout, tuple(pixel_range)

    def forward(self, x):
        n = x.shape[0]
        x = to_model_space(x, self.pixel_range, "NHWC" if self.layout == "NHWC" else "NCHW")
        if self.layout == "flat":
            x = x.reshape(n, -1)
        out = self.fn(x)
        if isinstance(out, (tuple, list)):
            if len(out) == 2:
                return (out[0].reshape(n, -1), out[1].reshape(n, -1))
            out = out[0]
        return (out.reshape(n, -1),)


class AdapterDecoder(nn.Module):
    """z (N, D) -> (N, C, H, W) in [0, 1] through the adapter's decoder, whatever its layout and range."""

    def __init__(self, fn, shape, layout, pixel_range):
        super().__init__()
        self.fn = fn
        self.shape, self.layout, self.pixel_range = tuple(shape), layout, tuple(pixel_range)

    def forward(self, z):
        y = self.fn(z)
        y = y[0] if isinstance(y, (tuple, list)) else y
        c, h, w = self.shape
        if self.layout == "NHWC":
            return from_model_space(y.reshape(z.shape[0], h, w, c), self.pixel_range, "NHWC")
        return from_model_space(y.reshape(z.shape[0], c, h, w), self.pixel_range, "NCHW")


class PythonModel(Model):
    kind = "python"

    def __init__(self, path: Path, spec: dict):
        super().__init__()
        unknown = sorted(set(spec) - KEYS)
        if unknown:
            raise CheckpointError(f"{path.name}: {ADAPTER_FUNCTION}() returned unknown key(s) {unknown}; known: {sorted(KEYS)}")
        for key in ("encoder", "decoder", "input_shape"):
            if key not in spec:
                raise CheckpointError(f"{path.name}: {ADAPTER_FUNCTION}() must return {key!r}")
        if not callable(spec["encoder"]) or not callable(spec["decoder"]):
            raise CheckpointError(f"{path.name}: the encoder and the decoder must be nn.Modules or callables")
        shape = checked_shape(list(spec["input_shape"]) if isinstance(spec["input_shape"], (list, tuple))
                              else spec["input_shape"], path.name)
        layout = spec.get("input_layout", "NCHW")
        if layout not in (*LAYOUTS, "flat"):
            raise CheckpointError(f"{path.name}: input_layout must be NCHW, NHWC or flat, got {layout!r}")
        pixel_range = tuple(float(v) for v in spec.get("pixel_range", (0.0, 1.0)))
        if pixel_range not in PIXEL_RANGES.values():
            raise CheckpointError(f"{path.name}: pixel_range must be [0, 1], [-1, 1] or [0, 255], got {list(pixel_range)}")
        name = spec.get("name") or path.stem
        if not isinstance(name, str):
            raise CheckpointError(f"{path.name}: name must be a string")
        self.path, self.name, self.input_shape = path, name, shape
        self.layout = "NHWC" if layout == "NHWC" else "NCHW"
        self.input_layout, self.pixel_range = layout, pixel_range
        shown_layout = {"flat": "flattened", "NHWC": "NHWC", "NCHW": "NCHW"}[layout]
        self.origin = f"Python adapter `{path.name}` (started by the server; {shown_layout} input)"
        self.model_type = "python"
        self.training = TrainingRecord.from_dict(spec.get("training"))
        modules = [m for m in (spec["encoder"], spec["decoder"]) if isinstance(m, torch.nn.Module)]
        for m in modules:
            m.eval()
        self.num_parameters = sum(p.numel() for m in modules for p in m.parameters()) or None
        self._parts = TorchParts(AdapterEncoder(spec["encoder"], shape, layout, pixel_range),
                                 AdapterDecoder(spec["decoder"], shape, layout, pixel_range))
        try:
            with torch.no_grad():
                out = self._parts.encoder(torch.full((2, *shape), 0.5))
                self.latent_dim = int(out[0].shape[1])
                self.is_variational = len(out) == 2
                images = self._parts.decoder(out[0])
        except Exception as e:
            raise CheckpointError(f"{path.name}: the encoder and decoder do not run on {list(shape)} images "
                                  f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None
        if tuple(images.shape[1:]) != shape:
            raise CheckpointError(f"{path.name}: the decoder gives {list(images.shape[1:])}, expected {list(shape)}")
        self.content_hash = content_hash(path, modules)

    def torch_parts(self) -> TorchParts:
        return self._parts


def content_hash(path: Path, modules: list) -> str:
    """The adapter's text and its modules' weights; for plain callables, also the file's mtime."""
    digest = hashlib.sha256(b"python" + path.read_bytes())
    for m in modules:
        for key, tensor in sorted(m.state_dict().items()):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(tensor.detach().cpu().float().numpy()).tobytes())
    if not modules:
        digest.update(str(path.stat().st_mtime_ns).encode())
    return digest.hexdigest()


def open_python(path: str | Path) -> PythonModel:
    path = Path(path)
    return PythonModel(path, run_adapter(path))


__all__: list[Any] = ["open_python", "open_registered", "PythonModel"]
