"""On-disk cache of arrays (encodings, projections), shared by every session of the app.

Entries are ``.npz`` files read with ``allow_pickle=False``, written atomically (temporary
file + rename) so a concurrent reader never sees half a file. A corrupt entry is deleted and
reported as a miss, never trusted.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .checkpoint import atomic_write

CACHE_ENV = "LATENT_EXPLORER_CACHE"


def cache_dir() -> Path:
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "latent-explorer")
    root.mkdir(parents=True, exist_ok=True)
    return root


def key(*parts: object) -> str:
    """A filename-safe key from any JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load(kind: str, entry_key: str) -> dict[str, np.ndarray] | None:
    path = cache_dir() / kind / f"{entry_key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
        if "__complete__" not in arrays:
            raise ValueError("entry lacks its completion marker")
        arrays.pop("__complete__")
        return arrays
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        path.unlink(missing_ok=True)
        return None


def store(kind: str, entry_key: str, **arrays: np.ndarray) -> None:
    folder = cache_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, __complete__=np.array(True), **arrays)
    atomic_write(folder / f"{entry_key}.npz", buf.getvalue())


# --- large arrays, memory-mapped --------------------------------------------------------
# Image stores (a generated dataset, a decoded folder) are too large to pass through memory
# twice: each is one .npy file, filled in place through a memory map and renamed when
# complete, then opened memory-mapped, so a second open costs only the file's header.
def array_path(kind: str, entry_key: str) -> Path:
    return cache_dir() / kind / f"{entry_key}.npy"


def load_array(kind: str, entry_key: str) -> np.ndarray | None:
    """The stored array, memory-mapped read-only, or None (a damaged file is deleted)."""
    path = array_path(kind, entry_key)
    if not path.exists():
        return None
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):  # truncated or not an .npy: recompute it
        path.unlink(missing_ok=True)
        return None


def build_array(kind: str, entry_key: str, shape: tuple[int, ...], dtype, fill) -> np.ndarray:
    """Create the entry by ``fill(out)`` writing into a writable memory map of ``shape``;
    returns it memory-mapped read-only. Readers see the file only once ``fill`` has finished."""
    path = array_path(kind, entry_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        fill(out)
        out.flush()
        del out
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return np.load(path, mmap_mode="r", allow_pickle=False)
