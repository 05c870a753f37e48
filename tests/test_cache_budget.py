"""One disk budget for every cache the app writes: least recently used out, a store larger than
the whole budget refused unwritten, a folder stored once per (folder, input shape), and any
number of shapes sizes sliced from one store."""
from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from explorer import cache, cache_budget, data, shapes
from explorer.cache_budget import BUDGET_ENV, CacheFull
from explorer.data import DatasetError
from explorer.ui.dataset_cache import dataset_for

MB = 10**6


def colour_model(side: int):
    """What dataset_for reads of a model: a colour input of ``side``, trained on nothing recorded."""
    return SimpleNamespace(input_shape=(3, side, side), trained_on=None, trained_preprocessing=None)


def set_budget(monkeypatch, megabytes: float) -> None:
    monkeypatch.setenv(BUDGET_ENV, str(megabytes / 1000))


def age(path, seconds_ago: float) -> None:
    """Make an entry look last used ``seconds_ago``."""
    then = os.path.getmtime(path) - seconds_ago
    os.utime(path, (then, then))


def test_the_disk_budget_evicts_least_recently_used_first(monkeypatch, isolated_cache):
    set_budget(monkeypatch, 3.5)
    megabyte = np.zeros(MB // 8)  # 1 MB of float64 (compresses to nothing, but np.savez does not compress)
    cache.store("encodings", "a", x=megabyte)
    cache.store("projections", "b", x=megabyte)
    cache.build_array("shapes", "c", (MB,), np.uint8, lambda out: None)
    for name, seconds in (("encodings/a.npz", 300), ("projections/b.npz", 200), ("shapes/c.npy", 100)):
        age(isolated_cache / name, seconds)
    assert cache.load("encodings", "a") is not None  # read: now the most recently used
    cache.store("encodings", "d", x=megabyte)  # 4 MB in all: one must go, b (used longest ago)
    left = sorted(str(p.relative_to(isolated_cache)) for p in isolated_cache.rglob("*") if p.is_file())
    assert left == ["encodings/a.npz", "encodings/d.npz", "shapes/c.npy"]
    usage = cache_budget.usage()
    assert usage.total <= usage.budget == 3_500_000
    sizes = {name: (isolated_cache / name).stat().st_size for name in left}
    assert usage.by_kind == {"encodings": sizes["encodings/a.npz"] + sizes["encodings/d.npz"],
                             "shapes": sizes["shapes/c.npy"]}
    assert usage.line() == "3 MB of 3.5 MB: encodings 2 MB · generated shapes 1 MB"


def test_a_store_larger_than_the_budget_is_refused_before_it_is_written(monkeypatch, isolated_cache):
    set_budget(monkeypatch, 2)
    cache.store("encodings", "kept", x=np.zeros(1000))
    filled = []
    with pytest.raises(CacheFull, match=r"3 MB of generated shapes would take 3 MB of disk, more than the 2 MB the "
                                        r"app's cache may hold \(set LATENT_EXPLORER_CACHE_GB to allow more\)"):
        cache.build_array("shapes", "big", (3 * MB,), np.uint8, filled.append, what="3 MB of generated shapes")
    assert filled == [] and not (isolated_cache / "shapes" / "big.npy").exists()
    assert cache.load("encodings", "kept") is not None  # nothing else was evicted for it


def test_a_write_in_progress_is_never_evicted(monkeypatch, isolated_cache):
    set_budget(monkeypatch, 1.5)
    (isolated_cache / "folders").mkdir()
    writing = isolated_cache / "folders" / ".abc.123.tmp.npy"
    writing.write_bytes(b"\0" * MB)
    cache.store("encodings", "new", x=np.zeros(MB // 8))
    assert writing.exists() and cache.load("encodings", "new") is not None


def test_what_the_page_fetches_is_under_the_same_budget(monkeypatch, isolated_cache, tmp_path):
    """The map's data and the page's decoders live in the front end's folder (the component serves
    them from there), yet count against the one budget and are evicted like the rest."""
    from explorer.map_arrays import PackStore

    served = tmp_path / "map-data"
    monkeypatch.setattr(cache_budget, "SERVED_DIRS", {"map data": served})
    set_budget(monkeypatch, 2.5)
    cache.store("encodings", "old", x=np.zeros(MB // 8))
    age(isolated_cache / "encodings" / "old.npz", 300)
    store = PackStore(served, max_bytes=10 * MB)  # its own bound is not what limits it here
    first = store.put(b"\1" * MB)
    age(served / first, 200)
    second = store.put(b"\2" * MB)
    assert not (isolated_cache / "encodings" / "old.npz").exists()  # the least recently used went
    assert (served / first).exists() and (served / second).exists()
    usage = cache_budget.usage()
    assert usage.by_kind == {"map data": 2 * MB}
    assert usage.line() == "2 MB of 2.5 MB: map data 2 MB"
    store.put(b"\3" * MB)  # past the budget again: now the older map file goes
    assert not (served / first).exists() and (served / second).exists()


def make_folder(path, count: int = 3) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (6, 6), (40 * i, 0, 0)).save(path / f"{i}.png")


def test_a_folder_is_stored_once_per_folder_and_input_shape(roots, isolated_cache):
    """A folder was decoded into a new store for every version of it and every input shape asked
    for, and none was ever deleted."""
    allowed, _ = roots
    folder = allowed / "set"
    make_folder(folder)

    def stores():
        return sorted(p.name for p in (isolated_cache / "folders").glob("*.npy"))

    dataset_for(str(folder), colour_model(8), "plain")
    first = stores()
    Image.new("RGB", (6, 6), (0, 255, 0)).save(folder / "3.png")  # a new version of the folder
    assert len(dataset_for(str(folder), colour_model(8), "plain").x) == 4
    assert len(stores()) == 1 and stores() != first  # replaced, not added
    dataset_for(str(folder), colour_model(16), "plain")  # another input shape: a store of its own
    assert len(stores()) == 2


def test_a_folder_past_the_budget_is_refused_with_a_message(roots, monkeypatch):
    allowed, _ = roots
    make_folder(allowed / "set", 3)
    set_budget(monkeypatch, 1)
    with pytest.raises(DatasetError) as info:  # 3 x 3 x 512 x 512 bytes = 2.36 MB
        dataset_for(str(allowed / "set"), colour_model(512), "plain")
    assert str(info.value) == (f"{allowed / 'set'}: its 3 images at 3×512×512 would take 2.36 MB of disk, more than the "
                               f"1 MB the app's cache may hold (set {BUDGET_ENV} to allow more)")
    assert len(dataset_for(str(allowed / "set"), colour_model(8), "plain").x) == 3  # a smaller input fits


def test_distinct_shapes_sizes_are_slices_of_one_store(isolated_cache):
    """Each size in a link (shapes:143999, shapes:143998, ...) generated and kept a store of its own:
    1.65 GB each near the full grid."""
    first = data.load_dataset("shapes:300")
    for size in (301, 777, 1000):
        data.load_dataset(f"shapes:{size}")
    assert len(list((isolated_cache / "shapes").glob("*.npy"))) == 1  # one store of 1,000
    larger = data.load_dataset("shapes:2500")  # a larger tier replaces the smaller store
    stored = list((isolated_cache / "shapes").glob("*.npy"))
    assert len(stored) == 1 and np.load(stored[0], mmap_mode="r").shape[0] == 4000
    assert np.array_equal(larger.factors[:300], first.factors)  # the same first images
    assert np.array_equal(np.asarray(larger.x[:300]), np.asarray(first.x))
    # a uniform draw: every value of every factor appears
    for column, n_values in enumerate(shapes.FACTOR_SIZES):
        assert set(np.unique(larger.factors[:, column])) == set(range(n_values))
