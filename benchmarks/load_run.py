"""Load run: many browser sessions on one real Streamlit server, at the same time.

    .venv/bin/python benchmarks/load_run.py [--sessions 8] [--seconds 60] [--port 0] [--out test-output/load]
                                            [--cache DIR] [--no-prewarm] [--no-warm-start]

1. Pre-warms a disk cache (a temporary folder, or --cache) with the default model's encodings
   and its PCA, t-SNE and UMAP maps, in a separate process; then starts
   ``python -m streamlit run app.py`` headless on 127.0.0.1 (file watcher off, usage stats off,
   the app's warm start on unless --no-warm-start), its output in ``<out>/server.log``.
2. One browser session alone: a warm-up round over the pages, a wait until the server is idle,
   then slider key presses, for the slider-update latency of a single session
   (--baseline-presses 0 skips this).
3. N sessions (headless Chromium contexts in one browser, driven with Playwright's async API)
   open the app at the same moment and do one warm-up round each; when all have, they go on
   together for D measured seconds, each looping over: a burst of arrow-key presses on a slider
   thumb of the Sliders page; a projection change (PCA / t-SNE / UMAP, through the form) and a
   colour change on the Map page; an upload of a generated digit PNG on the Upload page.

Slider-update latency is measured in the page: from the keydown event (``performance.now()``)
to the moment a MutationObserver sees the "Decoded from the sliders" image get a new ``src``.
It includes Streamlit's round trip and the browser's own work; browser and server share the
machine's cores, so under load it also includes Chromium competing for them.

Counted as errors: exception boxes in a page (``[data-testid="stException"]``), uncaught
JavaScript errors, actions that failed or timed out, a dropped connection, a page asking for a
checkpoint or a sidebar that lost the one picked (nobody here changes it). The server log is
searched for tracebacks. Resident memory (RSS) of the server and its children is read from
/proc every ~10 s. Everything stays on 127.0.0.1: requests to any other address are aborted and
counted. Every wait has a time limit and the run has an overall one; the server's process group
is killed at the end, also on Ctrl-C or failure.

Writes ``<out>/server.log``, ``<out>/load_run.json`` (and a screenshot per failure) and prints
a summary table; exits 1 when there were errors or tracebacks.
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from streamlit_server import HOST, StreamlitServer, find_chromium, free_port  # noqa: E402

CHROMIUM = find_chromium() or "/usr/bin/chromium"  # Debian's; Playwright cannot download one here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
METHOD_LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# In every page, before its own scripts: the keydown time of an arrow key and the time the
# decoded image's src next changes, both on the page's performance.now() clock.
LATENCY_PROBE = """
(() => {
  if (window.__le) return;
  const decodedSrc = () => {
    for (const caption of document.querySelectorAll('[data-testid="stImageCaption"]')) {
      if (caption.textContent.includes('Decoded from the sliders')) {
        const img = caption.closest('[data-testid="stImage"]').querySelector('img');
        return img ? img.getAttribute('src') : null;
      }
    }
    return null;
  };
  const le = window.__le = {t0: null, t1: null, src0: null};
  document.addEventListener('keydown', (e) => {
    if (e.key.startsWith('Arrow')) { le.t0 = performance.now(); le.t1 = null; le.src0 = decodedSrc(); }
  }, true);
  const watch = () => new MutationObserver(() => {
    if (le.t0 === null || le.t1 !== null) return;
    const src = decodedSrc();
    if (src && src !== le.src0) le.t1 = performance.now();
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  if (document.documentElement) watch(); else document.addEventListener('DOMContentLoaded', watch);
})();
"""
IDLE_JS = """() => { const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.dataset.testScriptState === 'notRunning' && app.dataset.testConnectionState === 'CONNECTED'; }"""
TITLE_JS = """(t) => { const h = document.querySelector('[data-testid="stMain"] h1'); return !!h && h.textContent.includes(t); }"""
MAP_TITLE_JS = """(t) => [...document.querySelectorAll('[data-testid="stMain"] .gtitle')]
  .some((e) => e.textContent.startsWith(t + ' of'))"""
COLOURBAR_JS = """(want) => !!document.querySelector('[data-testid="stMain"] .js-plotly-plot .colorbar') === want"""
# What each page shows when it is done: its main widget, else an exception or a request for a model.
PAGE_READY = {"Sliders": '[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]',
              "Map": '[data-testid="stMain"] [data-testid="stForm"] [data-testid="stRadioOption"]',
              "Upload": '[data-testid="stMain"] [data-testid="stFileUploader"] input[type="file"]'}
READY_JS = """(selector) => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return false;
  if (main.querySelector(selector)) return 'ready';
  if (main.querySelector('[data-testid="stException"]')) return 'an exception';
  if (main.textContent.includes('Pick a checkpoint in the sidebar')) return 'Pick a checkpoint in the sidebar';
  return false;
}"""
DEFAULT_LABEL = "mnist-vae (vae, 16-d)"  # the checkpoint the app opens on
PLOT_TEXT_JS = """(n) => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')]
  .some((p) => p.textContent.includes(n))"""

PREWARM = """
import sys
from explorer import projection
from explorer.backend import InferenceEngine
from explorer.checkpoint import load
from explorer.data import load_dataset
engine = InferenceEngine(load("checkpoints/mnist-vae"))
dataset = load_dataset("mnist")
codes = engine.encode_dataset(dataset).codes
for method in sys.argv[1:]:
    projection.project(codes, method, projection.default_params(method), (engine.source.content_hash, dataset.identity))
"""


@dataclass
class Config:
    sessions: int = 8
    seconds: float = 60.0
    port: int = 0  # 0: a free one
    out: Path = ROOT / "test-output" / "load"
    cache: Path | None = None  # None: a temporary folder, removed at the end
    prewarm: bool = True  # encodings and maps of the default model on disk before the server starts
    warm_start: bool = True  # the app's own default; the test suite turns it off
    projections: tuple[str, ...] = ("tsne", "umap", "pca")  # cycled through on the Map page
    baseline_presses: int = 40  # slider presses of the single session
    burst: int = 6  # slider presses per visit of the Sliders page
    sample_every: float = 10.0  # seconds between memory samples
    linger_s: float = 5.0  # after the sessions closed, before the last memory sample
    idle_wait_s: float = 120.0  # at most this long waiting for the server to go idle after warm-up
    action_timeout_s: float = 60.0  # one page load, map change or upload
    press_timeout_s: float = 20.0  # one slider update
    chromium: str = CHROMIUM
    quiet: bool = False


# --- the server ------------------------------------------------------------------------------
def children_of(pid: int) -> list[int]:
    """All descendants of ``pid``, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MB (0 if it is gone)."""
    total_kb = 0
    for p in [pid, *children_of(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants."""
    total = 0
    for p in [pid, *children_of(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLOCK_TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Server(StreamlitServer):
    """The shared server start, with the app's warm start switched on or off and an idle wait."""

    def __init__(self, port: int, cache: Path, log_path: Path, warm_start: bool):
        log_path.write_bytes(b"")
        super().__init__(cache, log_path, port=port, env={"LATENT_EXPLORER_WARM_START": "1" if warm_start else "0"})
        atexit.register(self.stop)

    def wait_idle(self, seconds: float, quiet_cpu_s: float = 0.15, settle: int = 3) -> float:
        """Wait until the server used under ``quiet_cpu_s`` CPU seconds in each of ``settle``
        consecutive seconds, at most ``seconds``; returns the seconds waited."""
        start = time.monotonic()
        quiet, last = 0, cpu_seconds(self.process.pid)
        while time.monotonic() - start < seconds and quiet < settle:
            time.sleep(1.0)
            now = cpu_seconds(self.process.pid)
            quiet = quiet + 1 if now - last < quiet_cpu_s else 0
            last = now
        return time.monotonic() - start


def log_problems(text: str) -> dict:
    """Tracebacks and other error lines in the server log."""
    lines = text.splitlines()
    tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    excerpts = ["\n".join(lines[i: i + 30]) for i in tracebacks[:5]]
    errors = [line for line in lines if re.search(r"\b(ERROR|CRITICAL)\b|Exception\b|Error:", line)]
    warnings = [line for line in lines if re.search(r"\bWARNING\b|warning", line, re.IGNORECASE)]
    return {"tracebacks": len(tracebacks), "traceback_excerpts": excerpts, "error_lines": len(errors),
            "error_line_examples": sorted(set(errors))[:10], "warning_lines": len(warnings),
            "warning_examples": sorted({re.sub(r"^\S+ \S+ ", "", w) for w in warnings})[:10]}


def prewarm(cache: Path, methods: tuple[str, ...]) -> float:
    """Encodings and maps of the default model, computed in a separate process."""
    start = time.perf_counter()
    env = dict(os.environ, LATENT_EXPLORER_CACHE=str(cache))
    subprocess.run([sys.executable, "-c", PREWARM, *methods], cwd=ROOT, env=env, check=True, timeout=900,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


# --- one browser session -----------------------------------------------------------------------
def digit_png(rng: random.Random) -> tuple[str, bytes]:
    """A dark digit on light paper, drawn with some jitter: (a unique file name, PNG bytes)."""
    from PIL import Image, ImageDraw, ImageFont

    digit = rng.randrange(10)
    size = rng.randrange(90, 160)
    image = Image.new("L", (size, size), rng.randrange(215, 256))
    font = ImageFont.load_default(size=int(size * rng.uniform(0.6, 0.85)))
    ImageDraw.Draw(image).text((size * rng.uniform(0.3, 0.7), size * rng.uniform(0.4, 0.6)), str(digit),
                               fill=rng.randrange(0, 60), font=font, anchor="mm")
    image = image.rotate(rng.uniform(-15, 15), fillcolor=255)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return f"digit-{digit}-{rng.randrange(10**9):09d}.png", buf.getvalue()


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class SessionStats:
    name: str
    slider_ms: list[float] = field(default_factory=list)
    map_ms: list[float] = field(default_factory=list)
    upload_ms: list[float] = field(default_factory=list)
    page_load_ms: list[float] = field(default_factory=list)
    actions: int = 0
    rounds: int = 0
    errors: list[str] = field(default_factory=list)  # exception boxes, failed actions, timeouts, JS errors
    blocked_requests: list[str] = field(default_factory=list)  # anything not to the local server
    warm_up: dict = field(default_factory=dict)  # the timings of the warm-up round, kept apart

    def start_measuring(self) -> None:
        """Set aside the warm-up's timings: from here on they count."""
        self.warm_up = {"slider_ms": self.slider_ms, "map_ms": self.map_ms, "upload_ms": self.upload_ms,
                        "page_load_ms": self.page_load_ms, "actions": self.actions}
        self.slider_ms, self.map_ms, self.upload_ms, self.page_load_ms = [], [], [], []
        self.actions, self.rounds = 0, 0

    def summary(self) -> dict:
        return {"name": self.name, "rounds": self.rounds, "actions": self.actions,
                "slider_updates": len(self.slider_ms), "map_changes": len(self.map_ms), "uploads": len(self.upload_ms),
                "slider_p50_ms": percentile(self.slider_ms, 50), "slider_p95_ms": percentile(self.slider_ms, 95),
                "map_p50_ms": percentile(self.map_ms, 50), "upload_p50_ms": percentile(self.upload_ms, 50),
                "errors": self.errors, "blocked_requests": self.blocked_requests,
                "warm_up": self.warm_up,
                "slider_ms": self.slider_ms}


class Session:
    """One browser context = one Streamlit session, doing what a person would."""

    def __init__(self, browser, base: str, name: str, config: Config, seed: int):
        self.browser, self.base, self.config = browser, base, config
        self.stats = SessionStats(name)
        self.rng = random.Random(seed)
        self.context = self.page = None
        self.method_turn = seed  # sessions start on different projections
        self.failures = 0

    async def open(self) -> None:
        self.context = await self.browser.new_context(viewport={"width": 1400, "height": 1000})
        # Anything not addressed to the local server is aborted (and counted); matched in the driver.
        elsewhere = re.compile(rf"^(?!(http|ws)://{re.escape(HOST)}:{int(self.base.rsplit(':', 1)[1])}/)")
        await self.context.route(elsewhere, self._block)
        await self.context.add_init_script(LATENCY_PROBE)
        self.page = await self.context.new_page()
        self.page.set_default_timeout(self.config.action_timeout_s * 1000)
        self.page.on("pageerror", lambda e: self.stats.errors.append(f"JavaScript error: {str(e)[:300]}"))
        start = time.perf_counter()
        await self.page.goto(self.base + "/", wait_until="domcontentloaded")
        await self.page.wait_for_selector('[data-testid="stSidebarNavLink"]')
        await self.idle()
        self.stats.page_load_ms.append((time.perf_counter() - start) * 1000)

    async def _block(self, route) -> None:
        self.stats.blocked_requests.append(route.request.url[:200])
        await route.abort()

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()

    async def idle(self) -> None:
        await self.page.wait_for_function(IDLE_JS, polling=50, timeout=self.config.action_timeout_s * 1000)

    async def check_page(self, what: str) -> None:
        """Exception boxes and a lost connection count as errors."""
        boxes = self.page.locator('[data-testid="stException"]')
        for i in range(await boxes.count()):
            text = " ".join((await boxes.nth(i).inner_text()).split())
            self.stats.errors.append(f"{what}: exception on the page: {text[:400]}")
        state = await self.page.evaluate(
            "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testConnectionState")
        if state != "CONNECTED":
            self.stats.errors.append(f"{what}: connection state {state}")
        picked = await self.page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').inner_text()
        if DEFAULT_LABEL not in picked:  # nobody here changes the checkpoint: the sidebar must keep it
            self.stats.errors.append(f"{what}: the sidebar's checkpoint choice is gone (shows {' '.join(picked.split())!r})"
                                     + await self.evidence("lost-checkpoint"))

    async def go(self, title: str) -> None:
        """Click the page in the navigation; wait until its script finished and the browser drew
        its main widget (widget code is loaded lazily, which takes seconds in a busy browser).
        A page that shows an exception or asks for a checkpoint instead is an error."""
        start = time.perf_counter()
        await self.page.locator('[data-testid="stSidebarNavLink"]', has_text=title).click()
        await self.page.wait_for_function(TITLE_JS, arg=title, polling=50)
        await self.idle()
        outcome = await (await self.page.wait_for_function(READY_JS, arg=PAGE_READY[title], polling=50)).json_value()
        self.stats.page_load_ms.append((time.perf_counter() - start) * 1000)
        if outcome != "ready":
            await self.check_page(title)
            raise RuntimeError(f"the {title} page showed {outcome!r} instead of its content")

    # --- the actions --------------------------------------------------------------------------
    async def sliders(self, presses: int, navigate: bool = True) -> None:
        """Arrow keys on one slider thumb, waiting for each decoded image."""
        if navigate:
            await self.go("Sliders")
        thumbs = self.page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]')
        count = await thumbs.count()
        if count == 0:
            raise RuntimeError("no sliders on the Sliders page")
        thumb = thumbs.nth(self.rng.randrange(min(count, 8)))  # the eight shown outside the expander
        step_sign = self.rng.choice((1, -1))
        for _ in range(presses):
            await self.idle()
            value, low, high, step = await thumb.evaluate("(e) => [e.value, e.min, e.max, e.step].map(Number)")
            if not low <= value + step_sign * step <= high:
                step_sign = -step_sign
            await thumb.focus()
            await self.page.evaluate("() => { window.__le.t0 = null; window.__le.t1 = null; }")
            await self.page.keyboard.press("ArrowRight" if step_sign > 0 else "ArrowLeft")
            try:
                await self.page.wait_for_function("() => window.__le.t1 !== null", polling=20,
                                                  timeout=self.config.press_timeout_s * 1000)
            except Exception:
                moved = await thumb.evaluate("(e) => Number(e.value)")
                raise TimeoutError(f"slider went {value} -> {moved}, but the decoded image did not change within "
                                   f"{self.config.press_timeout_s:.0f} s") from None
            self.stats.slider_ms.append(await self.page.evaluate("() => window.__le.t1 - window.__le.t0"))
            self.stats.actions += 1
            await asyncio.sleep(self.rng.uniform(0.05, 0.25))
        await self.idle()
        await self.check_page("Sliders")

    async def map_change(self) -> None:
        """Another projection through the form, then the other colouring."""
        await self.go("Map")
        method = self.config.projections[self.method_turn % len(self.config.projections)]
        self.method_turn += 1
        label = METHOD_LABELS[method]
        form = self.page.locator('[data-testid="stMain"] [data-testid="stForm"]')
        await form.locator('[data-testid="stRadioOption"]', has_text=label).click()
        start = time.perf_counter()
        await form.locator("button", has_text="Compute map").click()
        await self.page.wait_for_function(MAP_TITLE_JS, arg=label, polling=50)
        self.stats.map_ms.append((time.perf_counter() - start) * 1000)
        self.stats.actions += 1
        await self.idle()
        colour = self.page.locator('[data-testid="stMain"] [data-testid="stRadio"]', has_text="Colour by")
        other = colour.locator('[data-testid="stRadioOption"]:not([data-selected="true"])').first
        by_error = "error" in await other.inner_text()
        await other.click()
        await self.page.wait_for_function(COLOURBAR_JS, arg=by_error, polling=50)  # the chart redrawn
        await self.idle()
        self.stats.actions += 1
        await self.check_page("Map")

    async def upload(self) -> None:
        """A generated digit through the Upload page, until its result is drawn."""
        await self.go("Upload")
        name, data = digit_png(self.rng)
        files = self.page.locator('[data-testid="stMain"] [data-testid="stFileUploader"] input[type="file"]')
        start = time.perf_counter()
        await files.set_input_files([{"name": name, "mimeType": "image/png", "buffer": data}])
        await self.page.wait_for_function(PLOT_TEXT_JS, arg=name, polling=50)
        self.stats.upload_ms.append((time.perf_counter() - start) * 1000)
        self.stats.actions += 1
        await self.idle()
        await self.check_page("Upload")

    async def evidence(self, what: str) -> str:
        """A screenshot in the output folder and the start of the page's text, for a failure."""
        try:
            self.failures += 1
            path = Path(self.config.out) / f"failure-{self.stats.name}-{self.failures}-{what}.png"
            await self.page.screenshot(path=str(path), full_page=True, timeout=10_000)
            text = " ".join((await self.page.locator('[data-testid="stMain"]').inner_text(timeout=5_000)).split())
            return f" [page: {text[:300]!r}; screenshot {path.name}]"
        except Exception as e:
            return f" [no screenshot: {type(e).__name__}]"

    async def attempt(self, what: str, action) -> bool:
        """Run one action; a failure is recorded and the page reloaded (a new session)."""
        try:
            await action()
            return True
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.stats.errors.append(f"{what} failed: {type(e).__name__}: {' '.join(str(e).split())[:300]}"
                                     + await self.evidence(what))
            try:
                await self.page.goto(self.base + "/", wait_until="domcontentloaded")
                await self.page.wait_for_selector('[data-testid="stSidebarNavLink"]')
                await self.idle()
            except Exception as again:
                self.stats.errors.append(f"reload after the failure failed: {type(again).__name__}")
            return False

    async def loop(self, seconds: float) -> None:
        """Rounds over the pages (sliders, map, upload) until ``seconds`` have passed; the
        action under way is finished."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.round(deadline)

    async def round(self, deadline: float = float("inf")) -> None:
        for what, action in (("sliders", lambda: self.sliders(self.config.burst)), ("map", self.map_change),
                             ("upload", self.upload)):
            if time.monotonic() >= deadline:
                return
            await self.attempt(what, action)
            await asyncio.sleep(self.rng.uniform(0.2, 0.6))  # a person's pause between things
        self.stats.rounds += 1


# --- the run ------------------------------------------------------------------------------------
class Recorder:
    """Memory and CPU samples of the server every ``every`` seconds, printed as they come."""

    def __init__(self, server: Server, every: float, quiet: bool):
        self.server, self.every, self.quiet = server, every, quiet
        self.start = time.monotonic()
        self.samples: list[dict] = []
        self.phase = "start"
        self.progress = lambda: ""
        self._last = (time.monotonic(), cpu_seconds(server.process.pid), *machine_busy())

    def sample(self, label: str | None = None) -> dict:
        now, cpu, (busy, total) = time.monotonic(), cpu_seconds(self.server.process.pid), machine_busy()
        t0, cpu0, busy0, total0 = self._last
        self._last = (now, cpu, busy, total)
        point = {"t_s": round(now - self.start, 1), "phase": label or self.phase,
                 "rss_mb": round(rss_mb(self.server.process.pid), 1),
                 "server_cpu_pct": round(100 * (cpu - cpu0) / max(now - t0, 1e-6), 1),
                 "machine_busy_pct": round(100 * (busy - busy0) / max(total - total0, 1), 1)}
        self.samples.append(point)
        if not self.quiet:
            extra = self.progress()
            print(f"  [{point['t_s']:6.1f} s] {point['phase']:<22} RSS {point['rss_mb']:7.1f} MB   server CPU "
                  f"{point['server_cpu_pct']:5.1f} %   machine busy {point['machine_busy_pct']:5.1f} %"
                  + (f"   {extra}" if extra else ""), flush=True)
        return point

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.sample()


async def single_session(browser, config: Config, server: Server, recorder: Recorder, results: dict, say) -> None:
    """One session alone: a warm-up round over every page and projection, a wait until the
    server is idle, then ``config.baseline_presses`` slider presses."""
    recorder.phase = "single: warm-up"
    say("single session: warm-up round (every page, every projection)")
    alone = Session(browser, server.url, "single", config, seed=0)
    await alone.open()
    await alone.attempt("sliders", lambda: alone.sliders(3))
    for _ in config.projections:
        await alone.attempt("map", alone.map_change)
    await alone.attempt("upload", alone.upload)
    waited = await asyncio.to_thread(server.wait_idle, config.idle_wait_s)
    results["idle_wait_s"] = round(waited, 1)
    alone.stats.start_measuring()
    recorder.phase = "single: sliders"
    say(f"single session: {config.baseline_presses} slider presses (server idle after {waited:.0f} s)")
    await alone.attempt("sliders", lambda: alone.sliders(0))  # onto the page
    remaining = config.baseline_presses
    while remaining > 0:  # ten presses per slider, on the page as it is
        n = min(remaining, 10)
        if not await alone.attempt("sliders", lambda: alone.sliders(n, navigate=False)):
            break
        remaining -= n
    await alone.close()
    results["single"] = alone.stats.summary()
    results["rss_after_single_mb"] = recorder.sample("single: done")["rss_mb"]


async def drive(config: Config, server: Server, recorder: Recorder, results: dict) -> None:
    from playwright.async_api import async_playwright

    say = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=config.chromium, args=CHROMIUM_ARGS)
        sampler = asyncio.create_task(recorder.run())
        try:
            if config.baseline_presses > 0:
                await single_session(browser, config, server, recorder, results, say)

            # 2. N sessions at once: each opens the app and does one warm-up round; when all have,
            # they go on together for config.seconds, which are measured.
            say(f"{config.sessions} sessions: warm-up round each, then {config.seconds:.0f} s all at once")
            recorder.phase = "concurrent: warm-up"
            sessions = [Session(browser, server.url, f"s{i + 1}", config, seed=i + 1) for i in range(config.sessions)]
            all_warm = asyncio.Event()
            warm = {"count": 0}
            recorder.progress = lambda: (f"slider updates {sum(len(s.stats.slider_ms) for s in sessions)}, "
                                         f"errors {sum(len(s.stats.errors) for s in sessions)}")

            async def one(session: Session) -> None:
                try:
                    await session.open()
                    await session.round()
                except Exception as e:  # only open() can raise: attempt() records the rest
                    session.stats.errors.append(f"opening the app failed: {type(e).__name__}: {str(e)[:200]}")
                warm["count"] += 1
                if warm["count"] == len(sessions):
                    results["warm_up_wall_s"] = round(time.monotonic() - started, 1)
                    results["rss_after_warm_up_mb"] = recorder.sample("after warm-up")["rss_mb"]
                    recorder.phase = "concurrent"
                    all_warm.set()
                await all_warm.wait()  # bounded: every other session's open and round have time limits
                session.stats.start_measuring()
                if session.page is not None:
                    await session.loop(config.seconds)

            started = time.monotonic()
            await asyncio.gather(*(one(s) for s in sessions))
            results["concurrent_wall_s"] = round(time.monotonic() - started - results["warm_up_wall_s"], 1)
            results["rss_end_mb"] = recorder.sample("end")["rss_mb"]
            recorder.phase, recorder.progress = "closing", lambda: ""
            results["sessions"] = [s.stats.summary() for s in sessions]
            results["concurrent_slider_ms"] = [ms for s in sessions for ms in s.stats.slider_ms]
            results["concurrent_map_ms"] = [ms for s in sessions for ms in s.stats.map_ms]
            results["concurrent_upload_ms"] = [ms for s in sessions for ms in s.stats.upload_ms]
            await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
            await asyncio.sleep(config.linger_s)
            results["rss_after_close_mb"] = recorder.sample("sessions closed")["rss_mb"]
        finally:
            sampler.cancel()
            await browser.close()


def run(config: Config) -> dict:
    """The whole load run; returns the figures (also written to ``<out>/load_run.json``)."""
    if not Path(config.chromium).exists():
        raise FileNotFoundError(f"Chromium not found at {config.chromium}: install Debian's chromium "
                                "(apt-get install chromium); Playwright cannot download a browser here")
    say = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("failure-*.png"):  # screenshots of an earlier run's failures
        old.unlink()
    temporary = config.cache is None
    cache = Path(tempfile.mkdtemp(prefix="latent-explorer-load-cache-")) if temporary else Path(config.cache)
    cache.mkdir(parents=True, exist_ok=True)
    results: dict = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
                     "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg()}
    server = None
    started = time.monotonic()

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupted) if threading.current_thread() is threading.main_thread() else None
    try:
        if config.prewarm:
            say(f"pre-warming the cache {cache} (encodings, maps: {', '.join(config.projections)})")
            results["prewarm_s"] = round(prewarm(cache, config.projections), 1)
        port = config.port or free_port()
        server = Server(port, cache, out / "server.log", config.warm_start)
        server.wait_healthy(90)
        say(f"server on {server.url} (pid {server.process.pid}), log {out / 'server.log'}")
        recorder = Recorder(server, config.sample_every, config.quiet)
        results["rss_start_mb"] = recorder.sample("start")["rss_mb"]
        budget = 300 + config.idle_wait_s + 3 * config.seconds + 10 * config.action_timeout_s
        asyncio.run(asyncio.wait_for(drive(config, server, recorder, results), timeout=budget))
        results["memory_samples"] = recorder.samples
    finally:
        if server is not None:
            server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if temporary:
            shutil.rmtree(cache, ignore_errors=True)
    results["server_log"] = log_problems((out / "server.log").read_text(errors="replace"))
    results["load_average_after"] = os.getloadavg()
    results["total_s"] = round(time.monotonic() - started, 1)
    finish(results)
    (out / "load_run.json").write_text(json.dumps(results, indent=1))
    return results


def finish(results: dict) -> None:
    """Totals over the sessions, added to ``results``."""
    sessions = results.get("sessions", [])
    single = results.get("single", {})
    load = results.get("concurrent_slider_ms", [])
    results["totals"] = {
        "page_errors": sum(len(s["errors"]) for s in sessions) + len(single.get("errors", [])),
        "server_tracebacks": results["server_log"]["tracebacks"],
        "blocked_requests": sum(len(s["blocked_requests"]) for s in sessions) + len(single.get("blocked_requests", [])),
        "slider_updates": len(load),
        "sessions_without_slider_updates": sum(1 for s in sessions if s["slider_updates"] == 0),
        "single_p50_ms": single.get("slider_p50_ms"), "single_p95_ms": single.get("slider_p95_ms"),
        "load_p50_ms": percentile(load, 50), "load_p95_ms": percentile(load, 95),
        "map_p50_ms": percentile(results.get("concurrent_map_ms", []), 50),
        "upload_p50_ms": percentile(results.get("concurrent_upload_ms", []), 50),
        "rss_growth": (results["rss_end_mb"] / results["rss_after_warm_up_mb"]
                       if results.get("rss_after_warm_up_mb") and results.get("rss_end_mb") else None),
    }


def table(results: dict) -> str:
    t, cfg = results["totals"], results["config"]
    fmt = lambda v, unit="": "–" if v is None else (f"{v:,.0f}{unit}" if isinstance(v, (int, float)) else str(v))  # noqa: E731
    single = results.get("single", {})
    rows = [
        ("sessions × measured seconds", f"{cfg['sessions']} × {cfg['seconds']:.0f} s (wall {fmt(results.get('concurrent_wall_s'))} s, "
                                        f"after a warm-up round of {fmt(results.get('warm_up_wall_s'))} s)"),
        ("slider updates", f"single {single.get('slider_updates', 0)}, under load {t['slider_updates']} "
                           f"({t['sessions_without_slider_updates']} sessions with none)"),
        ("slider latency p50 / p95, single", f"{fmt(t['single_p50_ms'], ' ms')} / {fmt(t['single_p95_ms'], ' ms')}"),
        ("slider latency p50 / p95, under load", f"{fmt(t['load_p50_ms'], ' ms')} / {fmt(t['load_p95_ms'], ' ms')}"),
        ("map change p50, under load", fmt(t["map_p50_ms"], " ms")),
        ("upload to result p50, under load", fmt(t["upload_p50_ms"], " ms")),
        ("page errors (exceptions, failed actions, JS)", f"{t['page_errors']}  (target 0)"),
        ("tracebacks in the server log", f"{t['server_tracebacks']}  (target 0)"),
        ("requests not to 127.0.0.1 (blocked)", str(t["blocked_requests"])),
        ("server RSS start / after warm-up / end",
         f"{fmt(results.get('rss_start_mb'), ' MB')} / {fmt(results.get('rss_after_warm_up_mb'), ' MB')} / "
         f"{fmt(results.get('rss_end_mb'), ' MB')}"),
        ("end / after warm-up", "–" if t["rss_growth"] is None else f"{t['rss_growth']:.2f}×"),
        ("RSS after the sessions closed", fmt(results.get("rss_after_close_mb"), " MB")),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"  {name:<{width}}  {value}" for name, value in rows]
    lines.append("\n  session  rounds  slider updates  p50 / p95 ms   map changes  p50 ms  uploads  p50 ms  errors")
    for s in results.get("sessions", []):
        lines.append(f"  {s['name']:<7}  {s['rounds']:>6}  {s['slider_updates']:>14}  {fmt(s['slider_p50_ms']):>5} / "
                     f"{fmt(s['slider_p95_ms']):<5}  {s['map_changes']:>11}  {fmt(s['map_p50_ms']):>6}  "
                     f"{s['uploads']:>7}  {fmt(s['upload_p50_ms']):>6}  {len(s['errors']):>6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "load")
    parser.add_argument("--cache", type=Path, help="cache folder to use (and pre-warm); default: a temporary one")
    parser.add_argument("--no-prewarm", action="store_true", help="start on an empty cache")
    parser.add_argument("--no-warm-start", action="store_true", help="LATENT_EXPLORER_WARM_START=0 for the server")
    parser.add_argument("--baseline-presses", type=int, default=40)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    config = Config(sessions=args.sessions, seconds=args.seconds, port=args.port, out=args.out, cache=args.cache,
                    prewarm=not args.no_prewarm, warm_start=not args.no_warm_start,
                    baseline_presses=args.baseline_presses, chromium=args.chromium)
    try:
        results = run(config)
    except KeyboardInterrupt:
        print("interrupted; the server was stopped", file=sys.stderr)
        return 130
    print("\nLoad run on 127.0.0.1, " + f"{results['cpu_count']} CPUs, load average before "
          f"{results['load_average_before'][0]:.1f}")
    print(table(results))
    problems = [e for s in [results.get("single", {}), *results.get("sessions", [])] for e in s.get("errors", [])]
    for line in problems[:10]:
        print("  error:", line)
    for excerpt in results["server_log"]["traceback_excerpts"][:2]:
        print("  server traceback:\n" + excerpt)
    print(f"figures: {Path(config.out) / 'load_run.json'}, server log: {Path(config.out) / 'server.log'}")
    return 0 if results["totals"]["page_errors"] == 0 and results["totals"]["server_tracebacks"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
