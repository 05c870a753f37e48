"""The map in the page (WebGL, explorer/frontend/map/) timed in a real browser, beside the Plotly
map it replaces; part of ``python -m benchmarks.bench_browser`` (``--map`` runs only this).

1. 70,000 points: the app on ``shapes:70000`` (70,000 generated sprites) with shapes-vae's 10-d
   codes, PCA and a UMAP computed in the background. In the page: a switch between the two
   projections (click -> pixels), a recolouring, pan frames, a lasso over about half the points
   (mouse-up -> the selection's summary drawn by Python's run), the cursor -> the decoded image
   drawn beside the map, the JS heap. Beside them the Plotly map's switch (Compute map -> the
   new figure drawn), recolouring, a drag's time per mouse event, and its heap.
2. 1,000,000 random points in 10 clusters (benchmarks/map_million_app.py draws them through the
   map's own Python entry): first frame after the data arrived, frames while the view moves (a
   stratified subsample), every point drawn after the view stops, a lasso over all points ->
   indices in Python, the JS heap after a garbage collection, a screenshot.
3. Start: ``streamlit run`` -> the first map drawn, on a warm disk cache and on a fresh install
   (an empty cache and no compiled Python files: PYTHONPYCACHEPREFIX points at an empty folder).

"To pixels": software WebGL (SwiftShader) finishes a frame only when something waits for it, and
regl-scatterplot's draw() promise and events come before that, so every WebGL time here ends
with a pixel read back from the canvas.
"""
from __future__ import annotations

import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from playwright.sync_api import Browser, Page

from benchmarks.harness import StreamlitServer

TARGETS_MS = {"switch": 150, "recolour": 120, "pan": 75, "lasso": 500, "cursor_p50": 16, "cursor_p95": 33,
              "million_first": 5000, "million_pan": 100, "million_settle": 1500, "million_lasso": 1000}
TARGETS_S = {"warm": 10.0, "fresh": 20.0}
DATASET_PATH = "folder or .npz path"  # the sidebar's choice that reads a typed dataset path
VIEW = "[...window.__lxMap.views.values()].find(v => v.root.isConnected)"
SHOT_DIR = Path(tempfile.gettempdir()) / "bench_browser_map"


@dataclass
class Figures:
    rows: list[tuple[str, list[float], float | None, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, values: list[float], target: float | None = None, unit: str = "ms") -> None:
        self.rows.append((name, [float(v) for v in values], target, unit))


def settle(page: Page, timeout_ms: int = 300_000) -> None:
    page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                           "?.getAttribute('data-test-script-state') === 'notRunning'", timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)


def wait_map(page: Page, timeout_ms: int = 600_000) -> None:
    page.wait_for_function(f"() => window.__lxMap && {VIEW} && +{VIEW}.root.dataset.drawn >= 1", timeout=timeout_ms)


def heap_mb(page: Page) -> float:
    session = page.context.new_cdp_session(page)
    session.send("HeapProfiler.collectGarbage")
    return page.evaluate("() => performance.memory.usedJSHeapSize") / 1e6


# --- WebGL -------------------------------------------------------------------------------------------
CLICK_TO_DRAWN = """async ([selector, value]) => {
  const view = %s;
  const before = +view.root.dataset.drawn;
  const started = performance.now();
  const target = view.root.querySelector(selector);
  if (value === null) target.click(); else { target.value = value; target.dispatchEvent(new Event('change')); }
  while (+view.root.dataset.drawn === before) {
    if (performance.now() - started > 60000) throw new Error('nothing drawn within 60 s of ' + selector);
    await new Promise(r => setTimeout(r, 2));
  }
  return performance.now() - started;
}""" % VIEW

FRAMES = """() => { const view = %s; window.__frames = [];
  const target = view.scatter.active;
  target.plot.subscribe('draw', () => { const gl = target.renderer.regl._gl;
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4)); window.__frames.push(performance.now()); });
}""" % VIEW


def drag(page: Page, box: dict, moves: int, dx: float, dy: float, wheel: bool = False) -> None:
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    if wheel:
        for k in range(moves):
            page.mouse.wheel(0, -60 if k < moves // 2 else 60)
        return
    page.mouse.down()
    for k in range(1, moves + 1):
        page.mouse.move(x + dx * k, y + dy * k)
    page.mouse.up()


def frame_times(page: Page, box: dict, moves: int = 40) -> list[float]:
    """Intervals between frames drawn to pixels while the view is dragged, then zoomed by wheel."""
    page.evaluate(FRAMES)
    drag(page, box, moves, 4, 2)
    time.sleep(0.5)
    drag(page, box, moves // 2, 0, 0, wheel=True)
    frames = page.evaluate("() => window.__frames")
    gaps = np.diff(frames)
    return [g for g in gaps if g < 2000]  # a pause between the two gestures is no frame


def lasso(page: Page, box: dict, fraction: float | None, corners: int = 40) -> None:
    """A lasso drawn by the mouse: an ellipse around the middle ``fraction`` of the map's box, or
    with None along the box's edges (around every point)."""
    page.locator('.lx-map .lx-modes button[data-mode="lasso"]').click()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    if fraction is None:
        x0, y0, x1, y1 = box["x"] + 3, box["y"] + 3, box["x"] + box["width"] - 3, box["y"] + box["height"] - 3
        edge = np.linspace(0, 1, corners // 4, endpoint=False)
        path = [(x0 + (x1 - x0) * t, y0) for t in edge] + [(x1, y0 + (y1 - y0) * t) for t in edge] + [
            (x1 - (x1 - x0) * t, y1) for t in edge] + [(x0, y1 - (y1 - y0) * t) for t in edge]
    else:
        rx, ry = box["width"] * fraction / 2, box["height"] * fraction / 2
        angles = np.linspace(0, 2 * np.pi, corners, endpoint=False)
        path = [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]
    page.mouse.move(*path[0])
    page.evaluate("() => { window.__up = null; document.addEventListener('pointerup', e => { window.__up = "
                  "[performance.now(), Date.now()]; }, {capture: true, once: true}); }")
    page.mouse.down()
    for point in path[1:]:
        page.mouse.move(*point)
    page.mouse.up()


def cursor_samples(page: Page, box: dict, moves: int = 80) -> list[float]:
    page.wait_for_function(f"() => {VIEW}.root.dataset.decoder === 'ready'", timeout=120_000)
    page.locator('.lx-map .lx-modes button[data-mode="pan"]').click()
    page.evaluate(f"() => {{ {VIEW}.cursor.samples.length = 0; }}")
    rng = np.random.default_rng(0)
    for _ in range(moves):
        fx, fy = rng.uniform(0.2, 0.8, 2)
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        page.wait_for_timeout(30)  # a hand's pace; each move is timed inside the page
    return page.evaluate(f"() => {VIEW}.cursor.samples.slice(5)")


def webgl_70k(browser: Browser, server: StreamlitServer, query: str, figures: Figures) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server.url}/?{query}")
        wait_map(page)
        page.wait_for_selector('.lx-map .lx-tabs button[data-projection="umap"]', timeout=900_000)
        # the page switches to UMAP by itself once it is computed (it was asked for): wait for that
        page.wait_for_function(f"() => {VIEW}.shown.projection === 'umap'", timeout=120_000)
        settle(page)
        count = page.evaluate(f"() => {VIEW}.count")
        figures.notes.append(f"WebGL map: {count:,} points (shapes, shapes-vae codes), PCA and UMAP")
        switches = []
        for method in ["pca", "umap"] * 6:  # each a switch away from the one shown
            switches.append(page.evaluate(CLICK_TO_DRAWN, [f'.lx-tabs button[data-projection="{method}"]', None]))
            settle(page)
        figures.add("70k WebGL: switch PCA <-> UMAP, click -> pixels", switches[2:], TARGETS_MS["switch"])
        recolours = []
        page.evaluate(f"() => {{ const s = {VIEW}.root.querySelector('.lx-colour select'); s.value = 'label'; "
                      "s.dispatchEvent(new Event('change')); }")
        settle(page)
        for colour in ["error", "shape"] * 6:  # each a change away from the one shown
            recolours.append(page.evaluate(CLICK_TO_DRAWN, [".lx-colour select", colour]))
            settle(page)
        figures.add("70k WebGL: recolour, change -> pixels", recolours[2:], TARGETS_MS["recolour"])
        box = page.locator(".lx-map .lx-box").bounding_box()
        figures.add("70k WebGL: pan/zoom, per frame to pixels", frame_times(page, box), TARGETS_MS["pan"])
        page.locator(".lx-map .lx-reset").click()
        lassos, workers = [], []
        for _ in range(3):
            page.locator(".lx-map .lx-clear").click()
            page.wait_for_selector("text=/Nothing selected yet/", timeout=120_000)
            settle(page)
            lasso(page, box, 0.7)
            summary = page.wait_for_function(
                "() => { const m = /([0-9,]+) images selected/.exec(document.body.innerText); "
                "return m && window.__up ? [performance.now() - window.__up[0], m[1]] : null; }", polling="raf",
                timeout=120_000).json_value()
            lassos.append(summary[0])
            workers.append(page.evaluate("() => window.__lxMap.timings.filter(t => t.what === 'select').at(-1)"))
            settle(page)
        figures.add("70k WebGL: lasso mouse-up -> Python's summary drawn", lassos, TARGETS_MS["lasso"])
        figures.add("  (of which: every point tested, in the worker)", [w["worker_ms"] for w in workers])
        figures.notes.append(f"70k lasso selected {workers[-1]['count']:,} points")
        samples = cursor_samples(page, box)
        figures.add("70k WebGL: cursor -> decoded image drawn, p50", samples, TARGETS_MS["cursor_p50"])
        figures.add("70k WebGL: cursor -> decoded image drawn, p95", [float(np.quantile(samples, 0.95))],
                    TARGETS_MS["cursor_p95"])
        figures.add("70k WebGL: JS heap after GC (MB)", [heap_mb(page)], unit="MB")
        SHOT_DIR.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOT_DIR / "map-70k.png"))
    finally:
        page.close()


# --- Plotly, beside -------------------------------------------------------------------------------------
TITLE = "() => document.querySelector('[data-testid=\"stPlotlyChart\"] .js-plotly-plot .gtitle')?.textContent || ''"


def plotly_70k(browser: Browser, server: StreamlitServer, query: str, figures: Figures, count: int = 70_000) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server.url}/?{query}&map_drawer=plotly")
        page.wait_for_function(f"() => ({TITLE})().includes('of {count:,} codes')", timeout=600_000)
        settle(page)
        switches = []
        for label in ["PCA", "UMAP"] * 2:
            page.locator('[data-testid="stForm"] [data-testid="stRadioOption"]').filter(
                has_text=re.compile(f"^{label}$")).click()
            started = time.perf_counter()
            page.locator('[data-testid="stFormSubmitButton"] button').click()
            page.wait_for_function(f"() => ({TITLE})().startsWith({label!r} + ' of')", timeout=300_000, polling="raf")
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            switches.append((time.perf_counter() - started) * 1000)
            settle(page)
        figures.add("70k Plotly: switch PCA <-> UMAP, submit -> figure drawn", switches[1:])
        recolours = []
        for colour, traces in (("reconstruction error", 1), ("shape", 4)) * 2:
            started = time.perf_counter()
            page.locator('[data-testid="stRadioOption"]', has_text=re.compile(f"^{colour}$")).click()
            page.wait_for_function("n => ([...document.querySelectorAll('.js-plotly-plot')][0]?._fullData || [])"
                                   ".filter(t => t.name !== 'selected').length === n", arg=traces, timeout=300_000,
                                   polling="raf")
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            recolours.append((time.perf_counter() - started) * 1000)
            settle(page)
        figures.add("70k Plotly: recolour, click -> figure drawn", recolours[1:])
        box = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the modebar shows on hover
        page.locator('.modebar-btn[data-val="pan"]').first.click()
        started = time.perf_counter()
        drag(page, box, 10, 4, 2)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
        figures.add("70k Plotly: pan, per mouse event (10 events)", [(time.perf_counter() - started) * 100])
        figures.add("70k Plotly: JS heap after GC (MB)", [heap_mb(page)], unit="MB")
    finally:
        page.close()


# --- a million points ------------------------------------------------------------------------------------
def million(browser: Browser, cache: Path, log: Path, figures: Figures, points: int) -> None:
    server = StreamlitServer(cache, log, script="benchmarks/map_million_app.py", script_args=("--points", str(points)))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        server.wait_healthy()
        page.goto(server.url)
        wait_map(page, 900_000)
        settle(page)
        first = page.evaluate("() => window.__lxMap.timings.find(t => t.what === 'first')")
        figures.add(f"{points:,}: first frame after the data arrived", [first["ms"]], TARGETS_MS["million_first"])
        figures.add(f"{points:,}:   (from the component mounted, fetch included)", [first["since_mount"]])
        box = page.locator(".lx-map .lx-box").bounding_box()
        frames = frame_times(page, box)
        figures.add(f"{points:,}: pan/zoom while moving, per frame to pixels", frames, TARGETS_MS["million_pan"])
        time.sleep(3)
        settles = page.evaluate("() => window.__lxMap.timings.filter(t => t.what === 'settle').map(t => t.ms)")
        figures.add(f"{points:,}: view stops -> every point drawn", settles, TARGETS_MS["million_settle"])
        SHOT_DIR.mkdir(exist_ok=True)
        page.locator(".lx-map .lx-reset").click()
        time.sleep(3)
        page.screenshot(path=str(SHOT_DIR / "map-1m.png"))
        to_python = []
        for _ in range(3):
            before = page.locator("text=/Python received/").count() and page.locator("text=/Python received/").inner_text()
            lasso(page, box, None)  # along the box's edges: every point inside
            page.wait_for_function("b => { const e = [...document.querySelectorAll('p')].find(p => "
                                   "p.innerText.startsWith('Python received')); return e && e.innerText !== b; }",
                                   arg=before or "", timeout=120_000)
            text = page.locator("text=/Python received/").inner_text()
            at = float(re.search(r"at ([0-9.]+)", text).group(1))
            up = page.evaluate("() => window.__up[1]")
            to_python.append(at * 1000 - up)
            figures.notes.append(f"1M lasso: {text}")
            settle(page)
        figures.add(f"{points:,}: lasso over all -> indices in Python", to_python, TARGETS_MS["million_lasso"])
        workers = page.evaluate("() => window.__lxMap.timings.filter(t => t.what === 'select').map(t => t.worker_ms)")
        figures.add(f"{points:,}:   (of which: every point tested, in the worker)", workers)
        figures.add(f"{points:,}: JS heap after GC (MB)", [heap_mb(page)], unit="MB")
    finally:
        page.close()
        server.stop()


# --- start --------------------------------------------------------------------------------------------------
def start(browser: Browser, cache: Path, log: Path, fresh_install: bool) -> float:
    """Seconds from ``streamlit run`` to the first map drawn in the page."""
    env = {}
    if fresh_install:
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-pycache-")  # nothing compiled yet
    server = StreamlitServer(cache, log, env=env)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        server.wait_healthy()
        page.goto(server.url)
        wait_map(page)
        return time.perf_counter() - server.started
    finally:
        page.close()
        server.stop()


def measure(browser: Browser, cache: Path, log: Path, points: int = 1_000_000, starts: int = 2) -> Figures:
    """Every part, each on its own: a part that fails is reported as failed, the others still are."""
    figures = Figures()
    fresh = Path(tempfile.mkdtemp(prefix="bench-map-fresh-"))

    def part(name: str, run) -> None:
        try:
            run()
        except Exception as e:  # the run goes on; the report says what failed
            figures.notes.append(f"{name} FAILED: {type(e).__name__}: {' '.join(str(e).split())[:300]}")

    def starts_() -> None:
        figures.add("start -> first map drawn, fresh install", [start(browser, fresh, log, True)], TARGETS_S["fresh"],
                    "s")
        figures.add("start -> first map drawn, warm disk cache",
                    [start(browser, fresh, log, False) for _ in range(starts)], TARGETS_S["warm"], "s")

    def seventy() -> None:
        query = (f"ckpt=shapes-vae&data={DATASET_PATH.replace(' ', '+')}&data_path=shapes:70000"
                 "&map_method=UMAP&umap_n_epochs=30")
        server = StreamlitServer(cache, log)
        try:
            server.wait_healthy()
            part("70k WebGL", lambda: webgl_70k(browser, server, query, figures))
            part("70k Plotly", lambda: plotly_70k(browser, server, query.replace("&map_method=UMAP", ""), figures))
        finally:
            server.stop()

    part("start", starts_)
    part("70k", seventy)
    part("a million points", lambda: million(browser, cache, log, figures, points))
    return figures


def report(figures: Figures) -> None:
    print("\nThe map in the page (WebGL) beside the Plotly map; p50 unless named")
    print(f"{'measure':58} {'n':>3} {'p50':>9} {'p95':>9} {'target':>8}  verdict")
    for name, values, target, unit in figures.rows:
        p50 = statistics.median(values)
        p95 = float(np.quantile(values, 0.95))
        verdict = "" if target is None else ("ok" if p50 <= target else "MISSED")
        show = (lambda v: f"{v:.0f} ms") if unit == "ms" else (lambda v: f"{v:.2f} s") if unit == "s" else (
            lambda v: f"{v:.0f} MB")
        print(f"{name:58} {len(values):3d} {show(p50):>9} {show(p95):>9} {show(target) if target else '':>8}  {verdict}")
    for note in figures.notes:
        print(f"  {note}")
    print(f"Screenshots: {SHOT_DIR}")
