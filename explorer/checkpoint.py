"""Checkpoints: ``config.json`` + ``model.safetensors`` (or the single ``.safetensors`` file,
whose metadata carries the same config under ``config``).

``load`` validates everything before building a model and raises ``CheckpointError`` with a
message a user can act on. Nothing is ever unpickled: a legacy ``.pt`` is read only with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import pickle
import struct
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .cache import atomic_write
from .models import MODEL_TYPES, Autoencoder, build, config_fields
from .safe_read import CheckpointError, parse_config_text, read_limited

FORMAT = "latent-explorer/1"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
LEGACY_WEIGHTS_NAME = "model.pt"
MAX_HEADER_BYTES = 16 * 1024 * 1024  # a real header is a few KB; a larger claim is refused unread
MAX_FILE_BYTES = 512 * 1024 * 1024
REQUIRED_KEYS = {"format": str, "model_type": str, "model": dict, "input_shape": list, "latent_dim": int}
OPTIONAL_KEYS = {"dataset": dict, "training": dict, "name": str}
SAFETENSORS_DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2", "U16", "U32", "U64"}


@dataclass
class Checkpoint:
    model: Autoencoder  # in eval mode
    config: dict  # the validated config.json content
    path: Path  # what was loaded (folder or file)
    content_hash: str  # sha256 of the weights and config, for cache keys

    @property
    def name(self) -> str:
        return self.config.get("name") or (self.path.stem if self.path.is_file() else self.path.name)


# --- saving -----------------------------------------------------------------------------
def make_config(model: Autoencoder, meta: dict | None = None) -> dict:
    config = {
        "format": FORMAT,
        "model_type": model.model_type,
        "model": dataclasses.asdict(model.config),
        "input_shape": list(model.input_shape),
        "latent_dim": model.latent_dim,
    }
    config.update(meta or {})
    return config


def save(model: Autoencoder, directory: str | Path, meta: dict | None = None) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (config also in its metadata)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = make_config(model, meta)
    text = json.dumps(config, indent=2)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, save_safetensors_bytes(state, metadata={"config": text}))
    atomic_write(directory / CONFIG_NAME, (text + "\n").encode())
    return directory


# --- loading ----------------------------------------------------------------------------
def load(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint folder, ``.safetensors`` file or legacy ``.pt``. Every
    failure, whatever its cause, is a ``CheckpointError`` with a message."""
    path = Path(path)
    try:
        return _load(path, device)
    except CheckpointError:
        raise
    except Exception as e:  # a case the checks below did not foresee still gets a message
        raise CheckpointError(f"{path.name}: not a usable checkpoint ({type(e).__name__}: {str(e)[:300]})") from None


def _load(path: Path, device: str | torch.device) -> Checkpoint:
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    if path.is_dir():
        config_file = path / CONFIG_NAME
        if (path / WEIGHTS_NAME).is_file():
            weights_file = path / WEIGHTS_NAME
        elif (path / LEGACY_WEIGHTS_NAME).is_file():
            weights_file = path / LEGACY_WEIGHTS_NAME
        else:
            raise CheckpointError(f"{path.name}: the folder has no {WEIGHTS_NAME}")
        if not config_file.is_file():
            raise CheckpointError(f"{path.name}: the folder has no {CONFIG_NAME}")
        config = read_config(path)
        raw = read_limited(weights_file, MAX_FILE_BYTES)
        state, _ = read_weights(raw, weights_file.name)
    else:
        raw = read_limited(path, MAX_FILE_BYTES)
        state, metadata = read_weights(raw, path.name)
        if metadata is None or "config" not in metadata:
            raise CheckpointError(f"{path.name}: a single weights file must carry its config (metadata key 'config'); "
                                  f"otherwise put it in a folder beside a {CONFIG_NAME}")
        config = parse_config_text(metadata["config"], f"{path.name} metadata")
        raw = raw + metadata["config"].encode()
    if path.is_dir():
        raw = raw + json.dumps(config, sort_keys=True).encode()
    validate_config(config)
    model = build_from_config(config)
    load_state(model, state)
    model.to(device).eval()
    return Checkpoint(model=model, config=config, path=path, content_hash=hashlib.sha256(raw).hexdigest())


def read_config(folder: Path) -> dict:
    """A checkpoint folder's config.json, read within bounds and parsed as a JSON object, not yet
    validated (raises CheckpointError)."""
    config_file = folder / CONFIG_NAME
    return parse_config_text(read_limited(config_file, MAX_HEADER_BYTES).decode("utf-8", "replace"), config_file.name)


def read_weights(raw: bytes, what: str) -> tuple[dict[str, torch.Tensor], dict | None]:
    """State dict (and metadata) from safetensors bytes, or a legacy tensors-only pickle."""
    # A safetensors header starts with "{" after its 8-byte length; that length's low bytes may
    # well be 0x80 or "PK", so only a file without it is taken for a zip or a pickle stream.
    if len(raw) > 8 and raw[8:9] != b"{" and (raw[:4] == b"PK\x03\x04" or raw[:1] == b"\x80"):
        return read_legacy(raw, what), None
    return read_safetensors(raw, what)


def read_safetensors(raw: bytes, what: str) -> tuple[dict[str, torch.Tensor], dict | None]:
    if len(raw) == 0:
        raise CheckpointError(f"{what}: the file is empty")
    if len(raw) < 8:
        raise CheckpointError(f"{what}: not a safetensors file (only {len(raw)} bytes)")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > MAX_HEADER_BYTES:
        raise CheckpointError(f"{what}: not a safetensors file (its header claims {header_len:,} bytes)")
    if 8 + header_len > len(raw):
        raise CheckpointError(f"{what}: the file is truncated (header needs {8 + header_len:,} bytes, file has {len(raw):,})")
    try:
        header = json.loads(raw[8: 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{what}: not a safetensors file (its header is not JSON)") from None
    except RecursionError:
        raise CheckpointError(f"{what}: not a safetensors file (its header is nested too deeply)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{what}: not a safetensors file (its header is not a JSON object)")
    metadata = header.pop("__metadata__", None)
    data_len = len(raw) - 8 - header_len
    for name, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise CheckpointError(f"{what}: tensor {name!r} has a malformed entry in the header")
        offsets = info["data_offsets"]
        if not isinstance(info["dtype"], str) or not (isinstance(offsets, list) and len(offsets) == 2
                                                      and all(isinstance(o, int) for o in offsets)):
            raise CheckpointError(f"{what}: tensor {name!r} has a malformed entry in the header")
        if info["dtype"] not in SAFETENSORS_DTYPES:
            raise CheckpointError(f"{what}: tensor {name!r} has unknown dtype {info['dtype']!r}")
        end = offsets[1]
        if end > data_len:
            raise CheckpointError(f"{what}: the file is truncated (tensor {name!r} ends at byte {end} of {data_len} data bytes)")
    try:
        state = load_safetensors_bytes(raw)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"{what}: the safetensors data is invalid ({e})") from None
    if metadata is not None and not isinstance(metadata, dict):
        raise CheckpointError(f"{what}: the safetensors metadata is not a mapping")
    return state, metadata


def read_legacy(raw: bytes, what: str) -> dict[str, torch.Tensor]:
    """A ``torch.save``d state dict, read with ``weights_only=True`` and no fallback."""
    try:
        obj = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(f"{what}: refused: the file holds pickled objects other than tensors, and this app never "
                              f"unpickles code ({first[:160]})") from None
    except Exception as e:
        raise CheckpointError(f"{what}: not a readable PyTorch weights file ({type(e).__name__})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError(f"{what}: a .pt checkpoint must hold a dict of named tensors (a state dict)")
    return obj


def validate_config(config: dict) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise CheckpointError(f"config is missing key(s): {', '.join(missing)}")
    unknown = sorted(set(config) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise CheckpointError(f"config has unknown key(s): {', '.join(unknown)}")
    for key, kind in {**REQUIRED_KEYS, **OPTIONAL_KEYS}.items():
        if key in config and not type_matches(config[key], kind):
            raise CheckpointError(f"config key {key!r} must be {kind.__name__}, got {type(config[key]).__name__}")
    if config["format"] != FORMAT:
        raise CheckpointError(f"config format {config['format']!r} is not supported (expected {FORMAT!r})")
    if config["model_type"] not in MODEL_TYPES:
        raise CheckpointError(f"unknown model_type {config['model_type']!r}; known types: {', '.join(sorted(MODEL_TYPES))}")
    fields = config_fields(config["model_type"])
    args = config["model"]
    unknown = sorted(set(args) - set(fields))
    if unknown:
        raise CheckpointError(f"model arguments not understood by {config['model_type']}: {', '.join(unknown)}")
    missing = sorted(set(fields) - set(args))
    if missing:
        raise CheckpointError(f"model arguments missing for {config['model_type']}: {', '.join(missing)}")
    hints = typing.get_type_hints(MODEL_TYPES[config["model_type"]].config_class)
    for name, value in args.items():
        if not type_matches(value, hints[name]):
            raise CheckpointError(f"model argument {name!r} must be {type_name(hints[name])}, got {value!r}")
    shape = config["input_shape"]
    if len(shape) != 3 or not all(type_matches(s, int) and s > 0 for s in shape):
        raise CheckpointError(f"input_shape must be [C, H, W] of positive integers, got {shape}")
    if list(args["input_shape"]) != list(shape):
        raise CheckpointError(f"input_shape {shape} contradicts the model's own input_shape {args['input_shape']}")
    if config["latent_dim"] != args["latent_dim"]:
        raise CheckpointError(f"latent_dim {config['latent_dim']} contradicts the model's own latent_dim {args['latent_dim']}")
    if math.prod(shape) > 4096 * 4096:
        raise CheckpointError(f"input_shape {shape} is too large")


def type_matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(item is Any or type_matches(v, item) for v in value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return abs(value) < 1e300 if isinstance(value, int) else math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "") if typing.get_origin(hint) else hint.__name__


def build_from_config(config: dict) -> Autoencoder:
    """The model on the meta device: no memory is allocated until the weights are known to fit,
    so a config claiming enormous layers cannot exhaust memory."""
    try:
        with torch.device("meta"):
            return build(config["model_type"], config["model"])
    except (ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"the model arguments are invalid: {e}") from None


def load_state(model: Autoencoder, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing:
        raise CheckpointError(f"weights missing for {len(missing)} tensor(s): {', '.join(missing[:5])}"
                              f"{' ...' if len(missing) > 5 else ''} (is the config for these weights?)")
    if extra:
        raise CheckpointError(f"weights hold {len(extra)} tensor(s) the model does not have: {', '.join(extra[:5])}"
                              f"{' ...' if len(extra) > 5 else ''}")
    for name, tensor in state.items():
        want = expected[name]
        if tuple(tensor.shape) != tuple(want.shape):
            raise CheckpointError(f"tensor {name!r} has shape {list(tensor.shape)}, the model expects {list(want.shape)}")
        if tensor.dtype != want.dtype:
            raise CheckpointError(f"tensor {name!r} has dtype {str(tensor.dtype).replace('torch.', '')}, "
                                  f"the model expects {str(want.dtype).replace('torch.', '')}")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"tensor {name!r} contains NaN or infinite values: the weights are broken")
    model.to_empty(device="cpu")  # from the meta device: every tensor is then overwritten by the weights
    model.load_state_dict(state, strict=True)
