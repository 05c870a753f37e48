"""What a server start reads: the bundled datasets come from the disk cache after the first load."""
from __future__ import annotations

import numpy as np

from explorer import cache
from explorer.ui import datasets


def test_a_bundled_dataset_is_read_back_from_the_disk_cache_unchanged(isolated_cache, monkeypatch):
    first = datasets.load_builtin("digits")
    assert list((isolated_cache / "datasets").glob("*.npz"))

    def no_parsing(name):
        raise AssertionError(f"{name} was parsed again instead of read from the cache")

    monkeypatch.setattr(datasets, "load_dataset", no_parsing)
    again = datasets.load_builtin("digits")
    assert again.name == first.name and again.classes == first.classes
    assert again.x.dtype == first.x.dtype and np.array_equal(again.x, first.x)
    assert again.y.dtype == first.y.dtype and np.array_equal(again.y, first.y)
    assert again.identity == first.identity  # so the encodings cached under it are found
    assert np.array_equal(again.test_idx, first.test_idx)


def test_a_damaged_cache_entry_is_parsed_again(isolated_cache, monkeypatch):
    first = datasets.load_builtin("digits")
    for entry in (isolated_cache / "datasets").glob("*.npz"):
        entry.write_bytes(b"not an npz")
    calls = []
    real = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", lambda name: calls.append(name) or real(name))
    again = datasets.load_builtin("digits")
    assert calls == ["digits"]
    assert again.identity == first.identity


def test_the_key_follows_the_code_that_makes_the_data(isolated_cache, monkeypatch):
    keys = []
    store = cache.store
    monkeypatch.setattr(cache, "store", lambda kind, key, **arrays: keys.append(key) or store(kind, key, **arrays))
    datasets.load_builtin("digits")
    monkeypatch.setattr(cache, "file_signature", lambda path: "explorer/data.py edited")
    datasets.load_builtin("digits")
    assert len(keys) == 2 and keys[0] != keys[1]


def test_mnist_from_the_cache_equals_mnist_parsed(isolated_cache, mnist):
    datasets.load_builtin("mnist")  # fills the cache
    cached = datasets.load_builtin("mnist")
    assert cached.identity == mnist.identity and np.array_equal(cached.x, mnist.x)
