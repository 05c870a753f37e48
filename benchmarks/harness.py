"""``streamlit run app.py`` on a free local port, and the Chromium to look at it with.

Shared by the browser tests (``tests/test_e2e_browser.py``, ``tests/test_load.py``) and the
browser benchmarks (``benchmarks.bench_browser``, ``benchmarks.load_run``), which need the same
start, health wait, clean stop and browser.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
# Headless on a CI machine: no GPU, no sandbox (containers run as root), nothing fetched from the
# network behind the test's back, and no /dev/shm (small in containers) for shared memory.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


class ServerError(RuntimeError):
    """The server exited or never became healthy; the message ends with its log's tail."""


class ChromiumMissing(RuntimeError):
    """No Chromium binary; the message says how to install one."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def find_chromium() -> str:
    """$CHROMIUM, else Debian's Chromium (Playwright cannot download its own browser here)."""
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ChromiumMissing("Chromium was not found: install Debian's chromium (apt-get install chromium, as .ci/run "
                          "does), or set $CHROMIUM to a Chromium binary")


# WebAssembly switched off (no `WebAssembly` object in pages): the in-page decoder cannot run, so
# the app falls back to decoding on the server. V8 without its compilers (jitless) has no
# WebAssembly; it is what Chromium's "Don't allow sites to use the V8 optimizer" setting does
# (--js-flags=--noexpose_wasm no longer exists in Chromium 156's V8). Jitless JavaScript is slow,
# so the benchmarks that time the server's path hide WebAssembly with HIDE_WASM instead.
WASM_OFF_ARGS = ["--js-flags=--jitless"]
# An init script for a context: no WebAssembly in its pages, JavaScript at full speed.
HIDE_WASM = "delete globalThis.WebAssembly;"


def chromium_launch_options(executable: str | None = None, wasm: bool = True) -> dict:
    """Keyword arguments for Playwright's ``chromium.launch`` (sync or async API)."""
    return {"executable_path": executable or find_chromium(), "args": CHROMIUM_ARGS + ([] if wasm else WASM_OFF_ARGS)}


class StreamlitServer:
    """The app in its own process group (stopped as one), its output appended to ``log_path``."""

    def __init__(self, cache: Path, log_path: Path, *, port: int | None = None, watcher: str | None = "none",
                 env: dict[str, str] | None = None, script: str = "app.py", script_args: tuple[str, ...] = ()):
        self.port = port or free_port()
        self.cache, self.log_path = Path(cache), Path(log_path)
        command = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                   "--server.address", HOST, "--server.port", str(self.port),
                   "--browser.gatherUsageStats", "false", "--server.runOnSave", "false"]
        if watcher:  # "none" as .streamlit/config.toml sets; None: Streamlit's own default
            command += ["--server.fileWatcherType", watcher]
        if script_args:
            command += ["--", *script_args]
        environment = {**os.environ, "LATENT_EXPLORER_CACHE": str(cache), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_healthy(self, timeout_s: float = 120) -> float:
        """Seconds from start until ``/_stcore/health`` answered ``ok``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"streamlit exited with code {self.process.returncode} before it was healthy:\n"
                                  f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.02)  # polling an HTTP endpoint: there is nothing to wait on instead
        raise ServerError(f"streamlit was not healthy after {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the whole process group, SIGKILL if it has not exited after 10 s."""
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # children that outlived the leader in the same group
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
