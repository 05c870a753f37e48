"""A folder of images as a uint8 store: listed, decoded in parallel, cached, memory-mapped.

The store is keyed by the folder's listing (every image's relative name, size and mtime, in
every subfolder), the target shape, the preprocessing and the code that decodes, so any changed,
added or removed file is noticed and anything else opens from the cache: one memory-mapped
.npy (images) and one small .npz (labels, what was skipped). Decoding writes each image
straight into its place in the file, so memory stays bounded whatever the folder's size.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_IMAGES = 200_000
TOP_FOLDER = "(top folder)"  # the class of loose images that lie beside class subfolders
PREPROCESSING = ("digit", "plain")
IN_PROCESS_BELOW = 200  # fewer files are decoded here: starting worker processes would cost more
WORKER_CHUNK = 64  # files per message to a worker

Progress = Callable[[float], None] | None


class FolderError(ValueError):
    """A folder that cannot be a dataset; the message says why."""


@dataclass
class FolderImages:
    pixels: np.ndarray  # (N, C, size, size) uint8, memory-mapped from the cache
    names: list[str]  # relative path of each image, in order
    labels: np.ndarray | None  # (N,) int64 class of each image, or None if the folder has no subfolders
    classes: list[str]
    skipped: list[str]  # "relative/name.png: why" for every file that could not be read
    key: str  # the cache key: a stable id of this content


def list_images(root: Path) -> list[tuple[str, int, int]]:
    """(relative posix name, size, mtime_ns) of every image under ``root``, sorted by name.
    Hidden files and folders (".name") are left out: they are tools' copies, not data."""
    found, pending = [], [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
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
    from . import images

    data = path.read_bytes()
    if preprocessing == "digit":
        return (images.preprocess_bytes(data, size=size).image * 255 + 0.5).astype(np.uint8)[None]
    return images.plain_pixels(images.open_image(data, draft_side=size), size, channels)


def decode_job(job: tuple[int, str, int, int, str]) -> tuple[int, np.ndarray | None, str | None]:
    """One file in a worker process: (index, pixels, None) or (index, None, why it failed)."""
    from .images import ImageError

    index, path, size, channels, preprocessing = job
    try:
        return index, decode_file(Path(path), size, channels, preprocessing), None
    except (ImageError, OSError) as e:
        return index, None, str(e) if isinstance(e, ImageError) else f"cannot be read ({e.strerror or e})"


def listing_digest(listing: list[tuple[str, int, int]]) -> str:
    """Changes when any image under the folder is added, removed, renamed, resized or touched."""
    return hashlib.sha256("\n".join(f"{n}\t{s}\t{m}" for n, s, m in listing).encode()).hexdigest()


def store_key(root: Path, listing: list[tuple[str, int, int]], size: int, channels: int, preprocessing: str) -> str:
    from . import cache, images

    code = hashlib.sha256(Path(images.__file__).read_bytes() + Path(__file__).read_bytes()).hexdigest()
    return cache.key("folder", str(root.resolve()), listing_digest(listing), size, channels, preprocessing, code)


def read_folder(root: str | Path, size: int, channels: int, preprocessing: str, progress: Progress = None,
                max_images: int = MAX_IMAGES, workers: int | None = None) -> FolderImages:
    """The folder's images at (channels, size, size): from the cache, or decoded into it."""
    from . import cache

    root = Path(root)
    if preprocessing not in PREPROCESSING:
        raise FolderError(f"unknown preprocessing {preprocessing!r}: use one of {', '.join(PREPROCESSING)}")
    if preprocessing == "digit" and channels != 1:
        raise FolderError("digit preprocessing makes 1-channel images: use 'plain' for a colour model")
    if not root.is_dir():
        raise FolderError(f"{root}: not a folder")
    try:
        listing = list_images(root)
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

        def fill(out: np.ndarray) -> None:
            kept[:], skipped[:] = decode_into(out, root, [n for n, _, _ in listing], size, channels,
                                              preprocessing, progress, workers)
            if not kept:
                raise FolderError(f"{root}: none of the {len(listing):,} images could be read ({skipped[0]})")

        pixels = cache.build_array("folders", key, (len(listing), channels, size, size), np.uint8, fill)
        meta = {"kept": np.array(kept, dtype=np.int64), "skipped": np.array(skipped, dtype=str)}
        cache.store("folders", key, **meta)
    kept_idx = meta["kept"]
    names = [listing[i][0] for i in kept_idx]
    labels, classes = labels_for(names)
    # decode_into moved the readable images to the front: the store's first len(kept) rows
    return FolderImages(pixels[: len(kept_idx)], names, labels, classes, [str(s) for s in meta["skipped"]], key)


def decode_into(out: np.ndarray, root: Path, names: list[str], size: int, channels: int, preprocessing: str,
                progress: Progress, workers: int | None) -> tuple[list[int], list[str]]:
    """Decode every file into ``out`` (row i = file i), then move the readable ones to the front
    in order. Returns (indices of the readable files, "name: why" of the others)."""
    jobs = [(i, str(root / name), size, channels, preprocessing) for i, name in enumerate(names)]
    failed: dict[int, str] = {}
    step = max(1, len(jobs) // 200)
    for done, (index, pixels, error) in enumerate(run_jobs(jobs, workers), 1):
        if error is None:
            out[index] = pixels
        else:
            failed[index] = error
        if progress and (done % step == 0 or done == len(jobs)):
            progress(done / len(jobs))
    kept = [i for i in range(len(names)) if i not in failed]
    for row, index in enumerate(kept):
        if row != index:  # row < index always: each move reads a row not yet overwritten
            out[row] = out[index]
    return kept, [f"{names[i]}: {why}" for i, why in sorted(failed.items())]


def run_jobs(jobs: list[tuple], workers: int | None):
    """Yield decode_job results, in any order: in this process for a few files, else in a pool of
    spawned processes (spawned, not forked: the app's server has threads a fork would copy mid-use)."""
    workers = workers or os.cpu_count() or 1
    if len(jobs) < IN_PROCESS_BELOW or workers == 1:
        yield from map(decode_job, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(decode_job, jobs, chunksize=WORKER_CHUNK)
