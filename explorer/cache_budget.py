"""One disk budget for everything the app caches: uploads, generated and folder image stores,
encodings, maps, exported models, bundled data, and what the page fetches (its decoders, its map
data: written into the package's front-end folder, since the app's component serves them from there).

Everything else lives in ``cache.cache_dir()``, one folder per kind; an entry is a file of it (the
files sharing a name before the first dot, like a folder store's ``.npy`` and ``.npz``, are one
entry) or a folder of it (an upload, an export). Its last use is its modification time (a
folder's own): a write sets it, and a read that finds it touches it. Past the budget, entries are deleted least
recently used first; a new entry larger than the whole budget is refused before it is written.
A file still being written (a hidden temporary one) counts but is never deleted while fresh.
Deleting an entry that a session has memory-mapped is safe: the file lives on until it is unmapped.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import settings

BUDGET_ENV = settings.ENV["cache_gb"]  # named in the refusal of an entry larger than the budget
STALE_WRITE_S = 24 * 3600  # a temporary file left this long belongs to a write that died
USAGE_MAX_AGE_S = 10.0  # the Storage line's figures may be this old (a scan per rerun is not worth it)
KIND_NAMES = {"shapes": "generated shapes", "folders": "folders", "encodings": "encodings", "projections": "maps",
              "uploads": "uploads", "onnx": "exported models", "datasets": "bundled data", "quality": "quality figures"}
FRONTEND = Path(__file__).resolve().parent / "frontend"
SERVED_DIRS = {"page decoders": FRONTEND / "decoders", "map data": FRONTEND / "map" / "data"}  # kind -> folder


class CacheFull(ValueError):
    """A new cache entry larger than the whole disk budget; the message says what to change."""


@dataclass
class Entry:
    kind: str
    paths: list[Path]  # its files, or its folder
    size: int  # bytes
    last_used: float  # newest mtime of its files
    writing: bool = False  # a temporary file of a write in progress


@dataclass
class Usage:
    total: int  # bytes
    budget: int
    by_kind: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """ "1.3 GB of 10 GB: generated shapes 614 MB · maps 12 MB" (largest first)."""
        kinds = sorted(((size, kind) for kind, size in self.by_kind.items() if size), reverse=True)
        parts = " · ".join(f"{KIND_NAMES.get(kind, kind)} {human(size)}" for size, kind in kinds)
        return f"{human(self.total)} of {human(self.budget)}" + (f": {parts}" if parts else "")


def human(size: float) -> str:
    """Bytes in decimal units, to about three figures: "614 MB", "1.3 GB"."""
    unit = "B"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            break
        size /= 1000
    return f"{size:.0f} {unit}" if size >= 100 or unit == "B" else f"{size:.3g} {unit}"


def budget_bytes() -> int:
    return int(settings.read().cache_gb * 1e9)


_lock = threading.Lock()  # one eviction at a time in this process
_usage_memo: tuple[float, Path, Usage] | None = None


def _root() -> Path:
    """The cache's folder (``cache.cache_dir``, which writes through this module)."""
    root = settings.read().cache
    root.mkdir(parents=True, exist_ok=True)
    return root


def _size_and_time(path: Path) -> tuple[int, float]:
    if not path.is_dir() or path.is_symlink():
        stat = path.lstat()
        return stat.st_size, stat.st_mtime
    size = 0  # a folder's files are written once; its own time is touched when it is used
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return size, path.stat().st_mtime


def entries(root: Path | None = None) -> list[Entry]:
    """Every entry of the cache, least recently used first."""
    root = _root() if root is None else root
    found: list[Entry] = []
    kinds = [(p.name, p) for p in root.iterdir() if p.is_dir()]
    kinds += [(kind, folder) for kind, folder in SERVED_DIRS.items() if folder.is_dir()]
    for kind, kind_dir in kinds:
        grouped: dict[str, Entry] = {}
        for path in kind_dir.iterdir():
            try:
                size, mtime = _size_and_time(path)
            except OSError:  # deleted meanwhile
                continue
            writing = path.name.startswith(".")
            stem = path.name if writing else path.name.split(".")[0]
            entry = grouped.setdefault(stem, Entry(kind, [], 0, 0.0, writing))
            entry.paths.append(path)
            entry.size += size
            entry.last_used = max(entry.last_used, mtime)
        found.extend(grouped.values())
    return sorted(found, key=lambda e: e.last_used)


def usage(max_age_s: float = 0.0) -> Usage:
    """Bytes used in all and by kind, against the budget (a scan at most ``max_age_s`` old)."""
    global _usage_memo
    root = _root()
    if _usage_memo is not None and _usage_memo[1] == root and time.monotonic() - _usage_memo[0] <= max_age_s:
        return _usage_memo[2]
    result = Usage(0, budget_bytes())
    for entry in entries(root):
        result.total += entry.size
        result.by_kind[entry.kind] = result.by_kind.get(entry.kind, 0) + entry.size
    _usage_memo = (time.monotonic(), root, result)
    return result


def touch(path: Path) -> None:
    """Mark an entry used now (it is then evicted last)."""
    try:
        os.utime(path)
    except OSError:
        pass


def make_room(needed: int = 0, keep: tuple[Path, ...] = (), what: str = "this") -> None:
    """Delete entries, least recently used first, until ``needed`` more bytes fit the budget
    beside what is left; never those under ``keep``, nor a write in progress. Raises CacheFull
    (deleting nothing) when ``needed`` alone is more than the whole budget."""
    global _usage_memo
    budget = budget_bytes()
    if needed > budget:
        raise CacheFull(f"{what} would take {human(needed)} of disk, more than the {human(budget)} the app's cache "
                        f"may hold (set {BUDGET_ENV} to allow more)")
    keep_resolved = [Path(k).resolve() for k in keep]
    with _lock:
        now = time.time()
        found = entries()
        used = sum(e.size for e in found)
        for entry in found:
            if used + needed <= budget:
                break
            if entry.writing and now - entry.last_used < STALE_WRITE_S:
                continue
            if any(p.resolve() == k or k in p.resolve().parents or p.resolve() in k.parents
                   for p in entry.paths for k in keep_resolved):
                continue
            for path in entry.paths:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            used -= entry.size
        _usage_memo = None
