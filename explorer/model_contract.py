"""The one model contract every source fills and the engine runs: ``Model`` (shapes, pixel
range and layout, the torch parts or ONNX runner, what was assumed), ``TrainingRecord`` (the
figures a model recorded) and ``TorchParts``; and the helpers every source uses to meet it
(bounded shapes and latent sizes, a flat size read as a square image, conversions between the
display contract and the model's own range and layout).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .safe_read import CheckpointError

NOT_RECORDED = "not recorded"
PIXEL_RANGES = {"[0,1]": (0.0, 1.0), "[-1,1]": (-1.0, 1.0), "[0,255]": (0.0, 255.0)}
LAYOUTS = ("NCHW", "NHWC")
MAX_INPUT_PIXELS = 4096 * 4096
MAX_LATENT_DIM = 1 << 16


# --- the training record ------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingRecord:
    """What a checkpoint recorded about its training. Every figure is a finite float or None
    (not recorded, or recorded as something that is not a number): readers never index the
    raw dict, so a record lacking a key cannot break a page."""

    test_mse: float | None = None
    test_psnr: float | None = None
    test_ssim: float | None = None
    pca_mse: float | None = None
    pca_psnr: float | None = None
    pca_ssim: float | None = None
    mse_vs_pca: float | None = None
    best_val_mse: float | None = None
    anomaly_auc: float | None = None
    pca_anomaly_auc: float | None = None
    # disentanglement against a dataset's ground-truth factors (explorer.disentangle), and PCA's
    mig: float | None = None
    dci_disentanglement: float | None = None
    dci_completeness: float | None = None
    dci_informativeness: float | None = None
    sap: float | None = None
    pca_mig: float | None = None
    pca_dci_disentanglement: float | None = None
    pca_dci_completeness: float | None = None
    pca_dci_informativeness: float | None = None
    pca_sap: float | None = None
    epochs: int | None = None
    anomaly_class: int | None = None  # the class held out of training, if one was
    date: str | None = None
    raw: dict = field(default_factory=dict, compare=False, hash=False)  # as stored, for display only

    @classmethod
    def from_dict(cls, record: Any) -> "TrainingRecord":
        if not isinstance(record, dict):
            return cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "raw":
                continue
            value = record.get(f.name)
            if f.type in ("float | None",):
                values[f.name] = _finite_float(value)
            elif f.type in ("int | None",):
                values[f.name] = value if isinstance(value, int) and not isinstance(value, bool) else None
            else:
                values[f.name] = value if isinstance(value, str) else None
        return cls(**values, raw=record)

    def get(self, name: str) -> Any:
        """A figure by name, None when not recorded (or not a field)."""
        return getattr(self, name, None) if name != "raw" else None

    def figure(self, name: str, fmt: str = ".4f") -> str:
        value = self.get(name)
        return NOT_RECORDED if value is None else format(value, fmt)


def _finite_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an int beyond float's range
        return None
    return value if math.isfinite(value) else None


# --- the contract -------------------------------------------------------------------------
@dataclass
class TorchParts:
    """PyTorch modules in the display contract: ``encoder(x)`` with x (N, C, H, W) in [0, 1]
    returns a tuple ``(mean,)`` or ``(mean, logvar)``; ``decoder(z)`` returns (N, C, H, W) in
    [0, 1]. What the engine runs with torch and what ``export`` writes to ONNX."""

    encoder: Any  # torch.nn.Module
    decoder: Any  # torch.nn.Module


class Model:
    """What ``InferenceEngine`` takes. Subclasses set the attributes in ``__init__`` and give
    ``torch_parts()`` and/or ``onnx_runner()``."""

    kind: str = ""
    name: str = ""
    path: Path | None = None
    content_hash: str = ""
    input_shape: tuple[int, int, int] = (1, 28, 28)  # [C, H, W]
    latent_dim: int = 0
    is_variational: bool = False
    pixel_range: tuple[float, float] = (0.0, 1.0)  # what the model itself expects
    layout: str = "NCHW"  # what the model itself expects
    model_type: str = ""  # a registry key for native models, else the kind
    num_parameters: int | None = None
    training: TrainingRecord = TrainingRecord()
    inferred: list[str]  # what was assumed rather than declared (shown in the card)
    origin: str = ""  # where it came from and how it was read, one line for the card (file names in backticks)
    body: str | None = None  # the network body ("mlp", "conv") where the source records one
    trained_on: str | None = None  # the dataset it was trained on, where recorded ("mnist", a folder's path)
    trained_preprocessing: str | None = None  # how that dataset's files were read ("digit", "plain"), where recorded

    def __init__(self):
        self.inferred = []

    # --- what the engine runs -------------------------------------------------------------
    def torch_parts(self) -> TorchParts | None:
        return None

    def onnx_runner(self, threads: int | None = None):
        """For a model that is ONNX already: its ``runtimes.OnnxRunner`` (else None)."""
        return None

    # --- the contract in numpy (eager, on the CPU: for tools and tests) ----------------------
    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(mean, logvar or None) of images (N, C, H, W) in [0, 1], eagerly on the CPU."""
        parts = self.torch_parts()
        with torch.inference_mode():
            out = parts.encoder(torch.as_tensor(np.asarray(x, dtype=np.float32)))
        return out[0].float().numpy(), (out[1].float().numpy() if len(out) > 1 else None)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Images (N, C, H, W) in [0, 1] of codes (N, latent_dim), eagerly on the CPU."""
        with torch.inference_mode():
            return self.torch_parts().decoder(torch.as_tensor(np.asarray(z, dtype=np.float32))).float().numpy()

    def close(self) -> None:
        """Release what the source holds (sessions, files); the default holds nothing."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.kind} {list(self.input_shape)} -> {self.latent_dim}>"


# --- helpers the sources share ------------------------------------------------------------
def checked_shape(value: Any, what: str) -> tuple[int, int, int]:
    """A [C, H, W] of positive ints within bounds, else CheckpointError."""
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in value):
        raise CheckpointError(f"{what}: the input shape must be [C, H, W] of positive integers, got {value!r:.200}")
    if math.prod(value) > MAX_INPUT_PIXELS:
        raise CheckpointError(f"{what}: the input shape {list(value)} is too large (at most {MAX_INPUT_PIXELS:,} values)")
    return tuple(int(s) for s in value)


def checked_latent(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_LATENT_DIM:
        raise CheckpointError(f"{what}: the latent size must be a positive integer up to {MAX_LATENT_DIM}, got {value!r:.100}")
    return int(value)


def square_shape(size: int) -> tuple[int, int, int] | None:
    """A flattened input of ``size`` values as a square grey or colour image [C, H, W], or None."""
    for channels in (1, 3):
        side = math.isqrt(size // channels) if size % channels == 0 else 0
        if side and side * side * channels == size:
            return (channels, side, side)
    return None


def to_model_space(x, pixel_range: tuple[float, float], layout: str):
    """Images (N, C, H, W) in [0, 1] -> the model's range and layout (numpy or torch)."""
    low, high = pixel_range
    if (low, high) != (0.0, 1.0):
        x = x * (high - low) + low
    if layout == "NHWC":
        x = x.permute(0, 2, 3, 1) if hasattr(x, "permute") else np.transpose(x, (0, 2, 3, 1))
    return x


def from_model_space(y, pixel_range: tuple[float, float], layout: str):
    """The model's output images -> (N, C, H, W) in [0, 1] (numpy or torch)."""
    if layout == "NHWC":
        y = y.permute(0, 3, 1, 2) if hasattr(y, "permute") else np.transpose(y, (0, 3, 1, 2))
    low, high = pixel_range
    if (low, high) != (0.0, 1.0):
        y = (y - low) / (high - low)
    return y
