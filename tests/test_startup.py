"""What a server start does: the bundled datasets come from the disk cache after the first load,
and UMAP's numba code is compiled before the first real map needs it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from explorer import cache
from explorer import data as datasets


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
    real = datasets.load_digits
    monkeypatch.setattr(datasets, "load_digits", lambda: calls.append("digits") or real())
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


# In a fresh process: in this one, earlier tests' UMAP maps may have compiled everything already.
# Counts the compiled signatures of umap's numba functions before and after the warm-up, and
# after a real map (fit and placing new points, the app's default parameters) that follows it.
WARM_UP_THEN_A_MAP = """
import json
import numba
import numpy as np
import umap.layouts, umap.spectral, umap.umap_, umap.utils
from explorer import projection

def compiled():
    return {f"{m.__name__}.{name}": len(f.signatures) for m in (umap.umap_, umap.layouts, umap.spectral, umap.utils)
            for name, f in vars(m).items() if isinstance(f, numba.core.registry.CPUDispatcher)}

before = compiled()
projection.warm_up()
warm = compiled()
codes = np.random.default_rng(1).standard_normal((300, 16)).astype(np.float32)
umap_map = projection.make_projection("umap", **projection.default_params("umap"))
umap_map.fit(codes)
umap_map.transform(codes[:3])
after = compiled()
print(json.dumps({"by_warm_up": sorted(f for f in warm if warm[f] > before[f]),
                  "by_the_map": sorted(f for f in after if after[f] > warm[f])}))
"""


def test_the_umap_warm_up_compiles_what_the_first_map_needs():
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", WARM_UP_THEN_A_MAP], cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    compiled = json.loads(out.stdout.splitlines()[-1])
    assert "umap.layouts._nb_optimize_layout_euclidean_single_epoch" in compiled["by_warm_up"], compiled
    assert compiled["by_the_map"] == [], "the first map after the warm-up still compiled these"
