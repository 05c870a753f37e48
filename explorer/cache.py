"""On-disk cache of arrays (encodings, projections), shared by every session of the app.

Entries are ``.npz`` files read with ``allow_pickle=False``, written atomically (temporary
file + rename) so a concurrent reader never sees half a file. A corrupt entry is deleted and
reported as a miss, never trusted. Everything here counts against one disk budget
(``cache_budget``): a read marks an entry used, a write evicts the least recently used beyond it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import cache_budget, settings


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; checkpoints and caches are shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_signature(path: Path) -> str:
    """Changes when the file, or a file directly in the folder, changes: part of a cache key."""
    files = sorted(path.glob("*")) if path.is_dir() else [path]
    return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files if f.is_file())


def cache_dir() -> Path:
    root = settings.read().cache
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
        cache_budget.touch(path)
        return arrays
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        path.unlink(missing_ok=True)
        return None


def store(kind: str, entry_key: str, **arrays: np.ndarray) -> None:
    folder = cache_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, __complete__=np.array(True), **arrays)
    path = folder / f"{entry_key}.npz"
    try:
        cache_budget.make_room(buf.getbuffer().nbytes, keep=(path,))
    except cache_budget.CacheFull:
        return  # larger than the whole budget: not kept (it is computed again when needed)
    atomic_write(path, buf.getvalue())


# --- large arrays, memory-mapped --------------------------------------------------------
# Image stores (a generated dataset, a decoded folder) are too large to pass through memory
# twice: each is one .npy file, filled row by row by position and renamed when complete, then
# opened memory-mapped, so a second open costs only the file's header.
def array_path(kind: str, entry_key: str) -> Path:
    return cache_dir() / kind / f"{entry_key}.npy"


def load_array(kind: str, entry_key: str) -> np.ndarray | None:
    """The stored array, memory-mapped read-only, or None (a damaged file is deleted)."""
    path = array_path(kind, entry_key)
    if not path.exists():
        return None
    try:
        pixels = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):  # truncated or not an .npy: recompute it
        path.unlink(missing_ok=True)
        return None
    cache_budget.touch(path)
    return pixels


class RowWriter:
    """The rows of a new .npy file, written and read by position (``out[i] = row``,
    ``out[a:b] = rows``). Nothing stays mapped, so filling a file of any size holds only the
    rows in hand (a writable memory map would keep every page it touched in the process)."""

    def __init__(self, fd: int, shape: tuple[int, ...], dtype, offset: int, path: str | Path):
        self.fd, self.shape, self.dtype, self.offset = fd, shape, np.dtype(dtype), offset
        self.path = Path(path)  # so other processes can write rows too
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def _start(self, key) -> int:
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise ValueError("RowWriter writes contiguous rows only")
            return key.indices(self.shape[0])[0]
        return int(key)

    def __setitem__(self, key, rows: np.ndarray) -> None:
        data = np.ascontiguousarray(rows, dtype=self.dtype).tobytes()
        os.pwrite(self.fd, data, self.offset + self._start(key) * self.row_bytes)

    def __getitem__(self, index: int) -> np.ndarray:
        data = os.pread(self.fd, self.row_bytes, self.offset + int(index) * self.row_bytes)
        return np.frombuffer(data, dtype=self.dtype).reshape(self.shape[1:])


def build_array(kind: str, entry_key: str, shape: tuple[int, ...], dtype, fill, what: str = "this store") -> np.ndarray:
    """Create the entry by ``fill(out)`` writing rows into a RowWriter of ``shape``; returns it
    memory-mapped read-only. Readers see the file only once ``fill`` has finished. Room is made
    for it in the disk budget first; one larger than the whole budget raises CacheFull unwritten."""
    path = array_path(kind, entry_key)
    cache_budget.make_room(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize, keep=(path,), what=what)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    try:
        header = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)  # header + sparse body
        offset = header.offset
        del header
        fd = os.open(tmp, os.O_RDWR)
        try:
            fill(RowWriter(fd, shape, dtype, offset, tmp))
        finally:
            os.close(fd)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return np.load(path, mmap_mode="r", allow_pickle=False)
