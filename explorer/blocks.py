"""Blocks of a dataset, and the one function that turns a block into a file of a store.

A dataset to encode at scale is described by a small ``DatasetRecord`` (explorer/store_format.py):
generated shapes, a folder of files, or arrays (mnist, digits, an .npz). Any process that has
the record and a block number reads or generates that block on its own: a generated block is
rendered from its factor rows, a folder's block decodes its own files, so no image ever
crosses a process boundary and nothing of size N x image is ever in memory.

``encode_block`` is the block function both engines run (explorer/bulk.py in process,
explorer/ray_runner.py on Ray): read or generate the block, score it with the engine, write
one Parquet file named by the block, atomically. It reports a failure instead of raising, so
one bad block never stops a run.
"""
from __future__ import annotations

import functools
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import shapes
from .data import DatasetError, UnitImages
from .dataset_spec import is_named
from .store_format import DatasetRecord, Manifest, StoreError, block_is_complete, block_path, block_table, \
    thumbnails, write_block

MAX_FILES = 50_000_000  # a folder's listing is held as names: about 100 bytes each


@dataclass
class Block:
    """The images of one block and what travels with them."""

    index: np.ndarray  # (n,) dataset rows
    images: np.ndarray | UnitImages  # (n, C, H, W) float32 in [0, 1], or a uint8 block seen as such
    labels: np.ndarray | None  # (n,) int64
    factors: np.ndarray | None  # (n, K) int64
    files: list[str] | None  # (n,) relative paths (folders)
    skipped: list[str]  # "name: why" for the block's files that could not be read


@dataclass
class BlockReport:
    """What became of one block: written (rows, timings) or failed (error)."""

    block: int
    rows: int = 0  # rows written
    started: float = 0.0  # time.time() at its start, for timelines across processes
    seconds: float = 0.0  # wall time of the block
    cpu_seconds: float = 0.0  # CPU time of the process that ran it, over the block (all its threads)
    skipped: int = 0  # files of the block that could not be read
    error: str | None = None  # why the block failed (None: written)


# --- naming a dataset ---------------------------------------------------------------------------
def shapes_grid(spec: str) -> tuple[str, int]:
    """(grid, size) of a generated shapes name: "shapes" and "shapes:N" up to the 4-px grid's
    144,000 (or "shapes:full") are exactly the app's dataset; a larger N, or "shapes-fine:N"
    ("shapes-fine:full"), samples the 1-px grid of 1,971,360."""
    head, _, size = spec.partition(":")
    grid = "1px" if head == "shapes-fine" else "4px"
    if not size:
        return grid, shapes.DEFAULT_SIZE
    if size == "full":
        return grid, shapes.FINE_GRID_SIZE if grid == "1px" else shapes.GRID_SIZE
    if not size.isdigit() or not 1 <= int(size) <= shapes.FINE_GRID_SIZE:
        raise DatasetError(f"{spec!r}: the size after ':' must be a whole number from 1 to the fine grid's "
                           f"{shapes.FINE_GRID_SIZE:,} (or 'full')")
    return ("1px" if int(size) > shapes.GRID_SIZE else grid), int(size)


def is_generated(spec: str) -> bool:
    return spec.partition(":")[0] in ("shapes", "shapes-fine")


def describe_dataset(spec: str, input_shape: tuple[int, int, int], preprocessing: str = "plain",
                     seed: int = 0) -> DatasetRecord:
    """The record of a dataset read at a model's ``input_shape`` (what every worker gets)."""
    channels, size, _ = input_shape
    if is_generated(spec):
        grid, n = shapes_grid(spec)
        return DatasetRecord(spec, "shapes", n, (3, shapes.SIDE, shapes.SIDE), tuple(shapes.SHAPES),
                             tuple(shapes.FACTOR_NAMES), tuple(tuple(v) for v in shapes.factor_values(grid)),
                             grid=grid, seed=seed)
    path = Path(spec)
    if not is_named(spec) and path.is_dir():
        from . import folders

        if preprocessing == "digit" and channels != 1:
            raise DatasetError("digit preprocessing makes 1-channel images: use 'plain' for a colour model")
        names = folder_names(str(path.resolve()))
        _, classes = folders.labels_for(list(names))
        return DatasetRecord(spec, "folder", len(names), (channels, size, size), tuple(classes), root=str(path.resolve()),
                             preprocessing=preprocessing, listing_digest=listing_digest(str(path.resolve())))
    dataset = arrays_dataset(spec, input_shape)
    return DatasetRecord(spec, "arrays", len(dataset.x), tuple(dataset.input_shape), tuple(dataset.classes),
                         preprocessing=dataset.preprocessing)


# --- reading a block ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def shapes_indices(size: int, seed: int, grid: str) -> np.ndarray:
    """Flat grid indices of a generated dataset's images (8 bytes an image), once per process."""
    factors = shapes.sample_factors(size, seed, grid)
    flat = np.ravel_multi_index(tuple(factors.T), shapes.GRIDS[grid][1])
    flat.flags.writeable = False
    return flat


def shapes_factors(record: DatasetRecord, rows: np.ndarray) -> np.ndarray:
    flat = shapes_indices(record.size, record.seed, record.grid)[rows]
    return np.stack(np.unravel_index(flat, shapes.GRIDS[record.grid][1]), 1).astype(np.int64)


@functools.lru_cache(maxsize=2)
def folder_listing(root: str) -> tuple[tuple[str, int, int], ...]:
    from . import folders

    listing = folders.list_images(Path(root))
    if not listing:
        raise DatasetError(f"{root}: no images found (looked for {', '.join(folders.IMAGE_SUFFIXES)})")
    if len(listing) > MAX_FILES:
        raise DatasetError(f"{root}: {len(listing):,} images, more than the {MAX_FILES:,} a store takes")
    return tuple(listing)


def folder_names(root: str) -> tuple[str, ...]:
    return tuple(name for name, _, _ in folder_listing(root))


def listing_digest(root: str) -> str:
    from . import folders

    return folders.listing_digest(list(folder_listing(root)))


@functools.lru_cache(maxsize=2)
def arrays_dataset(spec: str, input_shape: tuple[int, int, int]):
    """mnist, digits or an .npz at the model's shape: small enough to hold (an .npz is capped)."""
    from .data import load_dataset

    channels, size, _ = input_shape
    return load_dataset(spec, size=size, channels=channels)


def read_block(record: DatasetRecord, rows: range) -> Block:
    """The images of dataset rows ``rows`` (one block), read or generated here."""
    index = np.arange(rows.start, rows.stop, dtype=np.int64)
    if record.kind == "shapes":
        factors = shapes_factors(record, index)
        return Block(index, UnitImages(shapes.render(factors, grid=record.grid)), factors[:, 0].copy(), factors,
                     None, [])
    if record.kind == "folder":
        return read_folder_block(record, index)
    dataset = arrays_dataset(record.spec, record.input_shape)
    labels = None if dataset.y is None else dataset.y[index]
    return Block(index, dataset.x[rows.start: rows.stop], labels, None, None, [])


def read_folder_block(record: DatasetRecord, index: np.ndarray) -> Block:
    from . import folders
    from .preprocess import ImageError

    if listing_digest(record.root) != record.listing_digest:
        raise StoreError(f"{record.root}: its files changed since this store was started "
                         f"(added, removed or modified): encode it into a new store")
    names = folder_names(record.root)
    class_index = {c: i for i, c in enumerate(record.classes)}
    channels, size, _ = record.input_shape
    pixels = np.empty((len(index), channels, size, size), np.uint8)
    kept, files, skipped = [], [], []
    for row in index:
        name = names[row]
        try:
            pixels[len(kept)] = folders.decode_file(Path(record.root) / name, size, channels, record.preprocessing)
        except ImageError as e:
            skipped.append(f"{name}: {e}")
            continue
        except OSError as e:
            skipped.append(f"{name}: cannot be read ({e.strerror or e})")
            continue
        kept.append(int(row))
        files.append(name)
    labels = (np.array([class_index[folders.class_of(f)] for f in files], np.int64) if record.classes else None)
    return Block(np.array(kept, np.int64), UnitImages(pixels[: len(kept)]), labels, None, files, skipped)


def as_uint8(images: np.ndarray | UnitImages) -> np.ndarray:
    if isinstance(images, UnitImages):
        return np.asarray(images.pixels)
    return (np.clip(np.asarray(images), 0, 1) * 255 + 0.5).astype(np.uint8)


# --- the block function -----------------------------------------------------------------------------
def block_engine(model_path: str, threads: int | None):
    """The engine the block function scores with, opened in the process that runs blocks (this
    one, or a Ray actor); ``threads`` set explicitly (the onnxruntime sessions follow torch's)."""
    import torch

    from .engine import InferenceEngine
    from .sources import open_model

    if threads:
        torch.set_num_threads(threads)
    return InferenceEngine(open_model(model_path))


def encode_block(engine, manifest: Manifest, store: Path, block: int) -> BlockReport:
    """Read or generate block ``block``, score it with ``engine`` (an InferenceEngine), write its
    Parquet file atomically. Any failure comes back as the report's ``error``, never raised."""
    started, wall, cpu = time.time(), time.perf_counter(), time.process_time()
    try:
        data = read_block(manifest.dataset, manifest.block_rows(block))
        if len(data.index):
            scored = engine.score(data.images)
            codes, logvar, errors = scored.codes, scored.logvar, scored.errors
        else:  # every file of a folder's block was unreadable: an empty block, its files listed
            d = manifest.model.latent_dim
            codes, logvar, errors = np.zeros((0, d), np.float32), np.zeros((0, d), np.float32), np.zeros(0, np.float32)
        table = block_table(manifest, data.index, codes, logvar, errors, data.labels, data.factors, data.files,
                            thumbnails(as_uint8(data.images), manifest.thumbnail_side))
        write_block(block_path(store, block), table, data.skipped)
        return BlockReport(block, len(data.index), started, time.perf_counter() - wall, time.process_time() - cpu,
                           len(data.skipped))
    except Exception as e:  # reported by the runner; the other blocks go on
        where = traceback.extract_tb(e.__traceback__)[-1]
        return BlockReport(block, started=started, seconds=time.perf_counter() - wall,
                           cpu_seconds=time.process_time() - cpu,
                           error=f"{type(e).__name__}: {str(e)[:300]} ({Path(where.filename).name}:{where.lineno})")


def pending_blocks(manifest: Manifest, store: Path) -> list[int]:
    """Blocks without a complete file: all of them for a new store, the rest for a resumed one."""
    return [b for b in range(manifest.num_blocks)
            if not block_is_complete(block_path(store, b), len(manifest.block_rows(b)))]


# --- images by reference ------------------------------------------------------------------------------
def fetch_images(store, rows: np.ndarray) -> np.ndarray:
    """(n, C, H, W) float32 in [0, 1] of a store's rows: rendered again from their factors,
    decoded from their files, or taken from the bundled or .npz dataset by index."""
    record: DatasetRecord = store.manifest.dataset
    if record.kind == "shapes":
        pixels = shapes.render(store.factors[rows], grid=record.grid)
        return pixels.astype(np.float32) / np.float32(255)
    if record.kind == "folder":
        from . import folders
        from .preprocess import ImageError

        channels, size, _ = record.input_shape
        root = Path(record.root).resolve()
        out = np.empty((len(rows), channels, size, size), np.float32)
        for k, name in enumerate(store.files[rows]):
            path = (root / name).resolve()
            if not path.is_relative_to(root):  # a store's files are read only under its dataset's folder
                raise StoreError(f"{name}: not a file under the store's folder {record.root}; refused")
            try:
                out[k] = folders.decode_file(path, size, channels, record.preprocessing) / np.float32(255)
            except FileNotFoundError:
                raise StoreError(f"{name}: the image is no longer in {record.root}") from None
            except (ImageError, OSError) as e:
                raise StoreError(f"{name}: cannot be read any more ({e})") from None
        return out
    try:
        dataset = arrays_dataset(record.spec, record.input_shape)
    except (DatasetError, OSError) as e:
        raise StoreError(f"{record.spec}: the store's images cannot be read ({e})") from None
    if len(dataset.x) != record.size:
        raise StoreError(f"{record.spec}: holds {len(dataset.x):,} images now, the store {record.size:,}: "
                         f"it changed since the store was written")
    return np.asarray(dataset.x[store.index[rows]], dtype=np.float32)
