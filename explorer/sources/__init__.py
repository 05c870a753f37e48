"""Files -> the one model contract every page and the engine use.

``open_model(path)`` recognises the source from the path and returns a ``Model``:

- ``native``: a folder with ``config.json`` + ``model.safetensors`` (or one ``.safetensors``
  carrying its config), today's format (``explorer/checkpoint.py``);
- ``onnx``: a folder with ``encoder.onnx`` + ``decoder.onnx`` (+ optional ``explorer.json``);
- ``keras``: a ``.keras`` file (an autoencoder) or a folder with ``encoder.keras`` + ``decoder.keras``;
- ``python``: a user's adapter ``.py`` file. It runs that file, so the app accepts it only from
  the person who starts the server (``--model`` / ``$LATENT_EXPLORER_MODELS``); see
  ``open_user_model`` for what a browser may open.

A ``Model`` speaks in the display contract: images are float32 (N, C, H, W) in [0, 1] and
decoded images come back the same way, whatever range and layout the model itself expects
(``pixel_range``, ``layout``: its sources convert on the way in and out). Every failure of
any source is a ``CheckpointError`` whose message says what to fix.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..checkpoint import Checkpoint
from ..model_contract import NOT_RECORDED, Model, TorchParts, TrainingRecord
from ..safe_read import CheckpointError
from .keras import open_keras
from .native import NativeModel, open_native
from .onnx import open_onnx
from .python import open_python, open_registered

# Keras runs on PyTorch here (no TensorFlow): its backend is fixed when it is first imported.
if "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "torch"



# --- recognising a source ---------------------------------------------------------------------
def source_kind(path: Path) -> str | None:
    """Which source reads ``path`` (None: no source does)."""
    if path.is_dir():
        if (path / "encoder.onnx").exists() or (path / "decoder.onnx").exists():
            return "onnx"
        if (path / "encoder.keras").exists() or (path / "decoder.keras").exists():
            return "keras"
        return "native"
    suffix = path.suffix.lower()
    if suffix in (".safetensors", ".pt"):
        return "native"
    if suffix == ".keras":
        return "keras"
    if suffix == ".py":
        return "python"
    if suffix == ".onnx":
        return "onnx"
    return None


def open_model(path: str | Path, bottleneck: str | None = None) -> Model:
    """The model at ``path``, from whichever source reads it. ``bottleneck``: for a one-file
    Keras autoencoder whose split is not evident, the name of the layer that outputs the code.
    Runs a Python adapter file; a path a browser supplied goes through ``open_user_model``."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    kind = source_kind(path)
    try:
        if kind == "native":
            return open_native(path)
        if kind == "onnx":
            return open_onnx(path)
        if kind == "keras":
            return open_keras(path, bottleneck=bottleneck)
        if kind == "python":
            return open_python(path)
    except CheckpointError:
        raise
    except Exception as e:  # whatever a malformed file provokes, the caller gets one error type
        raise CheckpointError(f"{path.name}: could not be read as a {kind} model ({type(e).__name__}: "
                              f"{str(e)[:300]})") from None
    raise CheckpointError(f"{path.name}: not a model this app reads: give a checkpoint folder or .safetensors, "
                          "a folder with encoder.onnx + decoder.onnx, or a .keras file")


def open_user_model(path: str | Path, bottleneck: str | None = None) -> Model:
    """``open_model`` for a path or upload that came from a browser: never a Python file."""
    path = Path(path)
    if path.suffix.lower() == ".py" or (path.is_dir() and any(path.glob("*.py"))):
        raise CheckpointError(f"{path.name}: a Python adapter runs code, so it is accepted only from the person who "
                              "starts the server (streamlit run app.py -- --model FILE.py, or $LATENT_EXPLORER_MODELS), "
                              "never from the browser")
    return open_model(path, bottleneck=bottleneck)


def open_listed(path: str | Path, bottleneck: str | None = None) -> Model:
    """A model the sidebar's list offers: a shipped checkpoint, or an adapter the server's
    starter named (``--model`` / $LATENT_EXPLORER_MODELS), which only then runs."""
    path = Path(path)
    if path.suffix.lower() == ".py":
        return open_registered(path)
    return open_user_model(path, bottleneck=bottleneck)


def as_model(model: Any) -> Model:
    """A ``Model`` from a ``Model`` or a native ``checkpoint.Checkpoint``."""
    if isinstance(model, Model):
        return model
    if isinstance(model, Checkpoint):
        return NativeModel(model)
    raise TypeError(f"not a model: {type(model).__name__}")


def check_fits(model: Any, input_shape, dataset_name: str) -> None:
    """Raise ``CheckpointError`` naming both shapes if the dataset's images do not fit."""
    name = getattr(model, "name", "the model")
    want = list(as_model(model).input_shape)
    if list(input_shape) != want:
        raise CheckpointError(f"{name} expects images of shape {want} (C, H, W) but dataset {dataset_name} has "
                              f"{list(input_shape)}: pick a matching dataset or model")


__all__ = ["CheckpointError", "Model", "TrainingRecord", "TorchParts", "open_model", "open_user_model",
           "open_listed", "as_model", "check_fits", "source_kind", "NOT_RECORDED"]
