"""A folder of images as a uint8 store: listed, decoded in parallel, cached, memory-mapped.

The store is keyed by the folder's listing (every image's relative name, size and mtime, in
every subfolder), the target shape, the preprocessing and the code that decodes, so any changed,
added or removed file is noticed and anything else opens from the cache: one memory-mapped
.npy (images) and one small .npz (labels, what was skipped). Decoding writes each image
straight into its place in the file, so memory stays bounded whatever the folder's size.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cache, preprocess
from .cache_budget import CacheFull

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_IMAGES = 200_000
MAX_ENTRIES = 1_000_000  # files and folders walked at most: a larger folder is refused, not half checked
TOP_FOLDER = "(top folder)"  # the class of loose images that lie beside class subfolders
PREPROCESSING = ("digit", "plain")
IN_PROCESS_BELOW = 200  # fewer files are decoded here: starting worker processes costs more

Progress = Callable[[float], None] | None


class FolderError(ValueError):
    """A folder that cannot be a dataset; the message says why."""


class DigitsRefused(FolderError):
    """Digit preprocessing refused every image of a folder (readable pictures, none of them a
    single digit): plain preprocessing would read them."""


NOT_A_DIGIT = "not a single digit: "  # starts the reason of a file digit preprocessing refused


@dataclass
class FolderImages:
    pixels: np.ndarray  # (N, C, size, size) uint8, memory-mapped from the cache
    names: list[str]  # relative path of each image, in order
    labels: np.ndarray | None  # (N,) int64 class of each image, or None if the folder has no subfolders
    classes: list[str]
    skipped: list[str]  # "relative/name.png: why" for every file that could not be read
    key: str  # the cache key: a stable id of this content


def list_images(root: Path, check_link: Callable[[Path], str | None] | None = None) -> list[tuple[str, int, int]]:
    """(relative posix name, size, mtime_ns) of every image under ``root``, sorted by name.
    Hidden files and folders (".name") are left out: they are tools' copies, not data.

    ``check_link(path)`` (why a symbolic link may not be followed, or None) is asked about every
    link met on the way (hidden ones too), in this same walk: one walk of a folder lists it and
    checks it. A folder with more than MAX_ENTRIES entries is refused before the walk ends."""
    found, pending, entries = [], [(root, "")], 0
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as listing:
            for entry in listing:
                entries += 1
                if entries > MAX_ENTRIES:
                    raise FolderError(f"{root}: more than {MAX_ENTRIES:,} files and folders, more than this app reads")
                if check_link is not None and entry.is_symlink():
                    why = check_link(Path(entry.path))
                    if why is not None:
                        raise FolderError(f"{root}: {prefix}{entry.name} {why}")
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), f"{prefix}{entry.name}/"))
                elif entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file():
                    stat = entry.stat()
                    found.append((prefix + entry.name, stat.st_size, stat.st_mtime_ns))
    return sorted(found)


def class_of(name: str) -> str:
    """An image's class: its first subfolder, or TOP_FOLDER for a file directly in the folder."""
    head, sep, _ = name.partition("/")
    return head if sep else TOP_FOLDER


def labels_for(names: list[str]) -> tuple[np.ndarray | None, list[str]]:
    """Class indices from the first subfolder of each name; None when every image is loose."""
    names_of_class = [class_of(n) for n in names]
    if all(c == TOP_FOLDER for c in names_of_class):
        return None, []
    classes = sorted(set(names_of_class))
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[c] for c in names_of_class], dtype=np.int64), classes


def decode_file(path: Path, size: int, channels: int, preprocessing: str) -> np.ndarray:
    """(channels, size, size) uint8 of one file; raises ImageError (or OSError) if unreadable."""
    data = preprocess.read_image_file(path)  # its size checked before it is read
    if preprocessing == "digit":
        return (preprocess.preprocess_bytes(data, size=size).image * 255 + 0.5).astype(np.uint8)[None]
    return preprocess.plain_pixels(preprocess.open_image(data, draft_side=size), size, channels)


def decode_row(out, index: int, path: Path, size: int, channels: int, preprocessing: str) -> str | None:
    """Decode one file into row ``index`` of ``out``; None, or why it could not be read."""
    try:
        out[index] = decode_file(path, size, channels, preprocessing)
    except preprocess.NotADigit as e:  # what was measured, without the advice an upload gets
        return NOT_A_DIGIT + e.reason
    except preprocess.ImageError as e:
        return str(e)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    return None


def listing_digest(listing: list[tuple[str, int, int]]) -> str:
    """Changes when any image under the folder is added, removed, renamed, resized or touched."""
    return hashlib.sha256("\n".join(f"{n}\t{s}\t{m}" for n, s, m in listing).encode()).hexdigest()


def store_key(root: Path, listing: list[tuple[str, int, int]], size: int, channels: int, preprocessing: str) -> str:
    """"<content>-<slot>": the content key covers the folder, its files, the shape, the
    preprocessing and the code that decodes them; the slot names the folder at one shape and
    preprocessing. A slot holds one store: a new version of the folder replaces the old one."""
    code = hashlib.sha256(Path(preprocess.__file__).read_bytes() + Path(__file__).read_bytes()).hexdigest()
    where = (str(root.resolve()), size, channels, preprocessing)
    return f"{cache.key('folder', *where, listing_digest(listing), code)}-{cache.key('folder-slot', *where)[:16]}"


def drop_other_versions(key: str) -> None:
    """Delete the stores of the same slot (the folder at this shape) made from other contents."""
    slot = key.rsplit("-", 1)[1]
    folder = cache.array_path("folders", key).parent
    for path in folder.glob(f"*-{slot}.*") if folder.is_dir() else ():
        if path.name.split(".")[0] != key:
            path.unlink(missing_ok=True)


def read_folder(root: str | Path, size: int, channels: int, preprocessing: str, progress: Progress = None,
                max_images: int = MAX_IMAGES, workers: int | None = None,
                listing: list[tuple[str, int, int]] | None = None) -> FolderImages:
    """The folder's images at (channels, size, size): from the cache, or decoded into it.
    ``listing``: the folder's list_images, when the caller has just walked it."""
    root = Path(root)
    if preprocessing not in PREPROCESSING:
        raise FolderError(f"unknown preprocessing {preprocessing!r}: use one of {', '.join(PREPROCESSING)}")
    if preprocessing == "digit" and channels != 1:
        raise FolderError("digit preprocessing makes 1-channel images: use 'plain' for a colour model")
    if not root.is_dir():
        raise FolderError(f"{root}: not a folder")
    try:
        listing = list_images(root) if listing is None else listing
    except OSError as e:
        raise FolderError(f"{root}: cannot be listed ({e.strerror or e})") from None
    if not listing:
        raise FolderError(f"{root}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    if len(listing) > max_images:
        raise FolderError(f"{root}: {len(listing):,} images, more than the {max_images:,} this app reads")
    key = store_key(root, listing, size, channels, preprocessing)
    meta, pixels = cache.load("folders", key), cache.load_array("folders", key)
    if meta is None or pixels is None:
        skipped: list[str] = []
        kept: list[int] = []

        def fill(out) -> None:  # a cache.RowWriter
            kept[:], skipped[:] = decode_into(out, root, [n for n, _, _ in listing], size, channels,
                                              preprocessing, progress, workers)
            if not kept:
                refused = [why for why in skipped if why.partition(": ")[2].startswith(NOT_A_DIGIT)]
                if refused:
                    raise DigitsRefused(
                        f"{root}: digit preprocessing refused {'all' if len(refused) == len(skipped) else len(refused)} "
                        f"of the {len(listing):,} images: it looks for one handwritten digit on plain paper and found "
                        f"none (e.g. {refused[0]}). They are pictures it could read, not photos of digits: plain "
                        "preprocessing reads them as they are")
                raise FolderError(f"{root}: none of the {len(listing):,} images could be read ({skipped[0]})")

        drop_other_versions(key)
        try:
            pixels = cache.build_array("folders", key, (len(listing), channels, size, size), np.uint8, fill,
                                       what=f"its {len(listing):,} images at {channels}×{size}×{size}")
        except CacheFull as e:
            raise FolderError(f"{root}: {e}") from None
        meta = {"kept": np.array(kept, dtype=np.int64), "skipped": np.array(skipped, dtype=str)}
        cache.store("folders", key, **meta)
    kept_idx = meta["kept"]
    names = [listing[i][0] for i in kept_idx]
    labels, classes = labels_for(names)
    # decode_into moved the readable images to the front: the store's first len(kept) rows
    return FolderImages(pixels[: len(kept_idx)], names, labels, classes, [str(s) for s in meta["skipped"]], key)


def decode_into(out, root: Path, names: list[str], size: int, channels: int, preprocessing: str,
                progress: Progress, workers: int | None) -> tuple[list[int], list[str]]:
    """Decode every file into its row of ``out`` (a cache.RowWriter: row i = file i), then move
    the readable ones to the front in order. Returns (indices of the readable files, "name: why"
    of the others)."""
    failed: dict[int, str] = {}
    step = max(1, len(names) // 200)
    for done, (index, error) in enumerate(decoded(out, root, names, size, channels, preprocessing, workers), 1):
        if error is not None:
            failed[index] = error
        if progress and (done % step == 0 or done == len(names)):
            progress(done / len(names))
    kept = [i for i in range(len(names)) if i not in failed]
    for row, index in enumerate(kept):
        if row != index:  # row < index always: each move reads a row not yet overwritten
            out[row] = out[index]
    return kept, [f"{names[i]}: {why}" for i, why in sorted(failed.items())]


def decoded(out, root: Path, names: list[str], size: int, channels: int, preprocessing: str, workers: int | None):
    """Yield (index, None or why it failed) as each file lands in ``out``: decoded here for a
    few files, else by worker processes."""
    workers = workers or os.cpu_count() or 1
    if len(names) < IN_PROCESS_BELOW or workers == 1:
        for index, name in enumerate(names):
            yield index, decode_row(out, index, root / name, size, channels, preprocessing)
        return
    yield from decoded_by_workers(out, root, names, size, channels, preprocessing, workers)


def decoded_by_workers(out, root: Path, names: list[str], size: int, channels: int, preprocessing: str,
                       workers: int):
    """Plain ``python -m explorer.folders`` processes, each given every ``workers``-th file, write
    their rows straight into the store's file and report each file on a line of their output.
    (Not multiprocessing: its spawned children re-run the main script, which in the app is app.py,
    and forking the app's threaded server is unsafe.)"""
    task = {"path": str(out.path), "offset": out.offset, "shape": list(out.shape), "root": str(root),
            "size": size, "channels": channels, "preprocessing": preprocessing}
    package_parent = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)}
    reports: queue.Queue = queue.Queue()
    processes = []
    for worker in range(workers):
        process = subprocess.Popen([sys.executable, "-m", "explorer.folders"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True, env=env)
        threading.Thread(target=forward_lines, args=(process.stdout, reports), daemon=True).start()
        with contextlib.suppress(BrokenPipeError):  # died before reading its task: its files are reported below
            process.stdin.write(json.dumps({**task, "jobs": [[i, names[i]] for i in range(worker, len(names), workers)]}))
            process.stdin.close()
        processes.append(process)
    reported: set[int] = set()
    running = workers
    while running:
        line = reports.get()
        if line is None:  # one worker's output ended
            running -= 1
            continue
        index, _, error = line.rstrip("\n").partition("\t")
        reported.add(int(index))
        yield int(index), error or None
    codes = [process.wait() for process in processes]
    for index in (i for i in range(len(names)) if i not in reported):
        yield index, f"not decoded: a decoding process stopped (exit codes {codes})"


def forward_lines(stream, reports: queue.Queue) -> None:
    for line in stream:
        reports.put(line)
    reports.put(None)


def worker_main() -> None:
    """A decoding worker: a task as JSON on stdin; one line "index<TAB>why it failed" (empty when
    it did not) per file on stdout, as each is written into the store's file."""
    task = json.load(sys.stdin)
    root = Path(task["root"])
    fd = os.open(task["path"], os.O_RDWR)
    try:
        out = cache.RowWriter(fd, tuple(task["shape"]), np.uint8, task["offset"], task["path"])
        for index, name in task["jobs"]:
            error = decode_row(out, index, root / name, task["size"], task["channels"], task["preprocessing"])
            print(f"{index}\t{' '.join((error or '').split())}", flush=True)
    finally:
        os.close(fd)


if __name__ == "__main__":
    worker_main()
