"""A store of encoded images (explorer/store.py) opened as the app's dataset.

``load_store(path, allowed)`` gives a ``StoreDataset``: a ``Dataset`` whose labels, factors and
split are the store's, whose codes are read from it (never recomputed), and whose images
(``x``) are fetched by reference a few at a time, so nothing of size N x image is ever in
memory. ``check_model`` says plainly when the store was encoded with another model than the
active one; ``thumbnail_pixels`` feeds the map's "nearest real image" from the stored thumbnails.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from .data import Dataset, DatasetError
from .dataset_spec import is_named, source_signature
from .engine import DatasetCodes
from .store import Store, StoreError, open_store

MAX_FETCH = 1024  # images fetched by reference in one read: 50 MB of 64x64 colour floats
# Why a page that needs thousands of a dataset's images in memory does not run on a store.
NEEDS_ALL_IMAGES = ("This page needs thousands of the dataset's images in memory at once, and a store's images are "
                    "fetched by reference a few at a time (a million 64×64 colour images are 12 GB). Use it on the dataset the "
                    "store was encoded from (mnist, digits, shapes, a folder or an .npz); the Map, Interpolate, "
                    "Sample, Arithmetic, Sliders and Upload pages work on the store.")


class StoreImages:
    """A store's images seen as the (N, C, H, W) float32 array ``Dataset.x`` is, fetched by
    reference when indexed (at most MAX_FETCH at a time). Only indexing, ``len``, ``shape``,
    ``dtype`` and ``ndim`` are offered; converting the whole of it is refused."""

    dtype = np.dtype(np.float32)
    ndim = 4

    def __init__(self, store: Store):
        self.store = store

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.store), *self.store.input_shape)

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        rows = np.arange(len(self.store))[key]  # a slice, a list, an array, a mask: rows, bounds checked
        if len(rows) > MAX_FETCH:
            raise DatasetError(f"{len(rows):,} images asked of a store at once; its images are fetched by reference, "
                               f"at most {MAX_FETCH:,} at a time")
        if not len(rows):
            return np.zeros((0, *self.store.input_shape), np.float32)
        try:
            return self.store.images(rows)
        except StoreError as e:
            raise DatasetError(str(e)) from None

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        raise DatasetError("a store's images are fetched by reference, a few at a time; they are never loaded whole")


@dataclass
class StoreDataset(Dataset):
    """A store as a ``Dataset``: ``x`` fetches images by reference; ``store`` holds the codes."""

    store: Store | None = None

    def codes_for(self, content_hash: str) -> DatasetCodes:
        """The store's codes, which are those of the model it was encoded with, and only of it."""
        if content_hash != self.store.manifest.model.content_hash:
            raise DatasetError(f"this store holds the codes of {self.store.manifest.model.name}, not of this model")
        return self.store.dataset_codes()


def load_store(path: str | Path, allowed: Callable[[Path], bool]) -> StoreDataset:
    """Open the store at ``path`` (codes, labels, factors, references: not its thumbnails) as a
    dataset. ``allowed(path)`` says whether the app may read a path: a store whose images lie
    outside those folders is refused without naming where they are. A store with missing or
    unreadable blocks opens without their rows (``store.problems`` names them); one with no
    readable block, or no readable manifest, raises DatasetError naming the problem."""
    try:
        store = open_store(path)
    except StoreError as e:
        raise DatasetError(str(e)) from None
    record = store.manifest.dataset
    source = record.root if record.kind == "folder" else (record.spec if record.kind == "arrays"
                                                         and not is_named(record.spec) else None)
    if source is not None and not allowed(Path(source).resolve()):
        raise DatasetError(f"{Path(path).name}: the store's images are read from {'a folder' if record.kind == 'folder' else 'a file'} "
                           f"outside the folders this app may read, so it cannot show them")
    identity = hashlib.sha256(f"{store.manifest.model.content_hash};{source_signature(str(path))}".encode()).hexdigest()
    return StoreDataset(str(path), StoreImages(store), store.y, store.classes, skipped=list(store.skipped),
                        factors=store.factors, factor_names=store.factor_names, factor_values=store.factor_values,
                        content_key=identity, preprocessing=record.preprocessing, store=store)


def check_model(dataset: StoreDataset, model: Any) -> None:
    """Raise DatasetError when the store was not encoded with ``model`` (``model_contract.Model``):
    its codes would not be this model's."""
    encoded = dataset.store.manifest.model
    if encoded.content_hash == model.content_hash:
        return
    raise DatasetError(f"{Path(dataset.name).name} was encoded with {encoded.name} (content hash "
                       f"{encoded.content_hash[:12]}), not with the active model {model.name} ({model.content_hash[:12]}): "
                       f"its codes are {encoded.name}'s. Pick {encoded.name} as the active checkpoint, or encode the "
                       f"dataset with this model into a new store (python -m explorer encode CHECKPOINT "
                       f"{dataset.store.manifest.dataset.spec} --out NEW_STORE).")


def problems_text(store: Store) -> str:
    """What is missing from a store that opened with problems, naming the blocks (first three)."""
    shown = "; ".join(store.problems[:3]) + (f"; and {len(store.problems) - 3} more" if len(store.problems) > 3 else "")
    return (f"{len(store.problems)} of the store's {store.manifest.num_blocks} blocks could not be read, and their "
            f"images are left out ({len(store):,} of {store.manifest.dataset.size:,} are here): {shown}")


def summary(store: Store) -> str:
    """One line on what a store holds, for the sidebar."""
    manifest = store.manifest
    return (f"A store: {len(store):,} images of {manifest.dataset.spec} encoded with {manifest.model.name}; its codes "
            f"are read, not recomputed, and images are fetched by reference when shown.")


def thumbnail_shape(store: Store) -> tuple[int, int, int]:
    """(C, H, W) of the store's thumbnails (PIL's reduce by a whole factor rounds up)."""
    c, h, w = store.input_shape
    factor = -(-max(h, w) // store.manifest.thumbnail_side)
    return c, -(-h // factor), -(-w // factor)


def thumbnail_pixels(store: Store, start: int, stop: int) -> np.ndarray:
    """(n, C, h, w) uint8 of the stored thumbnails of rows ``start`` to ``stop``: what the map's
    nearest-image blocks are made of for a store (no image is rendered or decoded again)."""
    c, h, w = thumbnail_shape(store)
    out = np.empty((stop - start, c, h, w), np.uint8)
    for k, png in enumerate(store.thumbnails(np.arange(start, stop))):
        pixels = np.asarray(Image.open(io.BytesIO(png)))
        out[k] = pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, 2, 0)
    return out
