"""The app as a user meets it, timed in a real browser (Chromium through Playwright).

    python -m benchmarks.bench_browser [--moves 40] [--cold-runs 3] [--watcher auto|none|poll]
    python -m benchmarks.bench_browser --slider-runtimes onnxruntime,torch   # the slider only, by runtime

1. fresh cache: ``streamlit run app.py`` with an empty $LATENT_EXPLORER_CACHE, the browser opened
   on the Map asking for UMAP (``/?map_method=UMAP``) as soon as the server answers; time until the
   PCA map is drawn (shown at once) and until the UMAP map replaces it (target <= 20 s);
2. switching between maps already computed, PCA -> t-SNE -> UMAP -> PCA and back, on the same
   server: from the click on "Compute map" to the new map's title drawn (target <= 1 s each);
3. cold server, warm disk cache: the server stopped and started again on the cache filled by 1
   and 2, the browser on "/" (the Map, PCA): time until the map is drawn (target <= 10 s);
4. slider -> new image: on the Sliders page, a key press on the focused slider thumb to the
   moment the decoded image's ``src`` changes (and to the moment the new picture is decoded),
   timed inside the page with ``performance.now()`` and a MutationObserver (target p50 <= 100 ms).

Times include the browser: Chromium runs with --disable-gpu, so WebGL (the map's scattergl) is
drawn in software. The browser is started before the clock; the server's startup is not.
Needs Debian's chromium (or $CHROMIUM).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from benchmarks.harness import ChromiumMissing, StreamlitServer, chromium_launch_options
from benchmarks.load.process_stats import wait_until_idle
from explorer.engine import RUNTIMES
from explorer.settings import ENV
from explorer.projection import label as method_label

TARGETS = {"slider": 0.100, "cold": 10.0, "umap": 20.0, "switch": 1.0}

# Page-side timing of one slider move: the key press, the decoded image's new src, the new picture decoded.
SLIDER_PROBE = """() => {
  const L = window.__lat = {t0: null, src: null, tSrc: null, tDrawn: null};
  const decoded = () => {
    for (const c of document.querySelectorAll('[data-testid="stImageContainer"]'))
      if ((c.innerText || '').includes('Decoded from the sliders')) return c.querySelector('img');
    return null;
  };
  L.src = decoded().src;
  document.addEventListener('keydown', () => { L.t0 = performance.now(); L.tSrc = null; L.tDrawn = null; }, true);
  new MutationObserver(() => {
    const img = decoded();
    if (img && img.src !== L.src) {
      L.src = img.src; L.tSrc = performance.now();
      img.decode().then(() => { L.tDrawn = performance.now(); }, () => { L.tDrawn = performance.now(); });
    }
  }).observe(document.querySelector('[data-testid="stMain"]'),
             {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""
TITLE = "() => document.querySelector('[data-testid=\"stPlotlyChart\"] .js-plotly-plot .gtitle')?.textContent || ''"


def settle(page: Page, timeout_ms: int = 120_000) -> None:
    page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                           "?.getAttribute('data-test-script-state') === 'notRunning'", timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)


def wait_title(page: Page, label: str, timeout_ms: int) -> None:
    """Until the map titled ``label`` is drawn (its title is drawn with the plot), plus one frame."""
    try:
        page.wait_for_function(f"() => ({TITLE})().startsWith({label!r} + ' of')", timeout=timeout_ms, polling="raf")
    except PlaywrightTimeout:
        shot = Path(tempfile.gettempdir()) / "bench_browser_timeout.png"
        page.screenshot(path=str(shot))
        raise RuntimeError(f"no {label} map after {timeout_ms / 1000:.0f} s: the map's title is "
                           f"{page.evaluate(TITLE)!r} (screenshot: {shot})") from None
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the four measurements --------------------------------------------------------------------------
def fresh_cache_umap(browser, cache: Path, watcher: str | None, log: Path) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    server = StreamlitServer(cache, log, watcher=watcher)
    try:
        healthy = server.wait_healthy()
        page.goto(f"{server.url}/?map_method=UMAP")
        wait_title(page, "PCA", 180_000)
        pca = time.perf_counter() - server.started
        wait_title(page, "UMAP", 300_000)
        umap = time.perf_counter() - server.started
        settle(page)
        switches, lost = switch_maps(page)
        return {"healthy": healthy, "pca": pca, "umap": umap, "switches": switches, "lost": lost}
    finally:
        page.close()
        server.stop()


def choose(page: Page, method: str) -> None:
    page.locator('[data-testid="stForm"] [data-testid="stRadioOption"]').filter(
        has_text=re.compile(f"^{re.escape(method_label(method))}$")).click()


CHOSEN = ("() => [...document.querySelectorAll('[data-testid=\"stForm\"] [data-testid=\"stRadioOption\"]')]"
          ".find(o => o.parentElement.getAttribute('data-selected') === 'true')?.innerText.trim() || ''")


def switch(page: Page, method: str) -> tuple[float, int]:
    """Seconds from the click on "Compute map" to ``method``'s map drawn, and how many submits
    were lost on the way (the page answered with the old map and the radio went back to it)."""
    label = method_label(method)
    for lost in range(3):
        choose(page, method)
        start = time.perf_counter()
        page.locator('[data-testid="stFormSubmitButton"] button').click()
        page.wait_for_function(f"() => ({TITLE})().startsWith({label!r} + ' of') || ({CHOSEN})() !== {label!r}",
                               timeout=60_000, polling="raf")
        if page.evaluate(TITLE).startswith(label + " of"):
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            return time.perf_counter() - start, lost
        settle(page)
    raise RuntimeError(f"the {label} map was asked for three times and never shown")


def switch_maps(page: Page, rounds: int = 2) -> tuple[dict[str, list[float]], int]:
    """Switches between maps already computed; also counts the submits the page lost."""
    # t-SNE is queued behind UMAP at server start; wait for it once, untimed.
    choose(page, "tsne")
    page.locator('[data-testid="stFormSubmitButton"] button').click()
    wait_title(page, "t-SNE", 300_000)
    settle(page)
    times: dict[str, list[float]] = {}
    lost_total = 0
    current = "tsne"
    for _ in range(rounds):
        for target in ("umap", "pca", "tsne", "pca", "umap", "tsne"):
            seconds, lost = switch(page, target)
            lost_total += lost
            times.setdefault(f"{method_label(current)} -> {method_label(target)}", []).append(seconds)
            settle(page)
            current = target
    return times, lost_total


def cold_start(browser, cache: Path, watcher: str | None, log: Path) -> tuple[float, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    server = StreamlitServer(cache, log, watcher=watcher)
    try:
        healthy = server.wait_healthy()
        page.goto(f"{server.url}/")
        wait_title(page, "PCA", 180_000)
        return healthy, time.perf_counter() - server.started
    finally:
        page.close()
        server.stop()


def slider_moves(browser, cache: Path, watcher: str | None, log: Path, moves: int,
                 runtime: str | None = None) -> tuple[list[float], list[float]]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    server = StreamlitServer(cache, log, watcher=watcher, env={ENV["runtime"]: runtime} if runtime else None)
    try:
        server.wait_healthy()
        page.goto(f"{server.url}/sliders")
        page.wait_for_selector('[data-testid="stImageCaption"]:has-text("Decoded from the sliders")', timeout=180_000)
        settle(page)
        wait_until_idle(server.process.pid, 60)  # the server's start-up work (maps restored from the cache) done
        page.evaluate(SLIDER_PROBE)
        page.locator('[data-testid="stSlider"] input[type="range"]').first.focus()
        to_src, to_drawn = [], []
        for k in range(moves + 3):
            page.keyboard.press("ArrowRight" if (k // 8) % 2 == 0 else "ArrowLeft")  # stay inside the range
            page.wait_for_function("() => window.__lat.tDrawn !== null", timeout=30_000)
            t0, t_src, t_drawn = page.evaluate("() => [window.__lat.t0, window.__lat.tSrc, window.__lat.tDrawn]")
            if k >= 3:  # the first moves warm the page up
                to_src.append((t_src - t0) / 1000)
                to_drawn.append((t_drawn - t0) / 1000)
            settle(page)
            page.wait_for_timeout(150)  # a person's pace between key presses, not a wait for something
        return to_src, to_drawn
    finally:
        page.close()
        server.stop()


@contextlib.contextmanager
def browser_session():
    """(browser, an empty disk cache for the servers, the servers' log file); all gone afterwards."""
    log = Path(tempfile.gettempdir()) / "bench_browser_server.log"
    log.write_text("")
    cache = Path(tempfile.mkdtemp(prefix="bench-browser-cache-"))
    try:
        with sync_playwright() as p:
            try:
                browser = p.chromium.launch(**chromium_launch_options())
            except ChromiumMissing as e:
                sys.exit(str(e))
            try:
                yield browser, cache, log
            finally:
                browser.close()
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=40, help="slider moves timed (at least 30)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold starts on the warm disk cache")
    parser.add_argument("--watcher", choices=["auto", "none", "poll", "watchdog"], default=None,
                        help="server.fileWatcherType; default: Streamlit's own default, as `streamlit run app.py`")
    parser.add_argument("--slider-runtimes", default=None,
                        help="only the slider, once per runtime named (e.g. onnxruntime,torch), alternating "
                             "in two rounds: the runtimes compared in one run")
    args = parser.parse_args()
    if args.slider_runtimes:
        compare_slider_runtimes(args)
        return
    rows = []
    with browser_session() as (browser, cache, log):
        fresh = fresh_cache_umap(browser, cache, args.watcher, log)
        colds = [cold_start(browser, cache, args.watcher, log) for _ in range(args.cold_runs)]
        to_src, to_drawn = slider_moves(browser, cache, args.watcher, log, max(30, args.moves))

    def row(name: str, values: list[float], target: float | None, unit: str, judge: str = "p50") -> None:
        value = statistics.median(values) if judge == "p50" else max(values)
        verdict = "" if target is None else ("ok" if value <= target else "MISSED")
        rows.append((name, values, target, unit, verdict))

    row("slider key -> decoded img src changed", to_src, TARGETS["slider"], "ms")
    row("slider key -> new picture decoded", to_drawn, TARGETS["slider"], "ms")
    row("fresh cache: start -> PCA map drawn", [fresh["pca"]], None, "s")
    row("fresh cache: start -> UMAP map drawn", [fresh["umap"]], TARGETS["umap"], "s")
    row("warm disk cache: start -> map drawn", [c[1] for c in colds], TARGETS["cold"], "s")
    row("  (of which: start -> /_stcore/health)", [c[0] for c in colds], None, "s")
    for name, values in fresh["switches"].items():
        row(f"switch {name}", values, TARGETS["switch"], "ms", judge="max")
    print(f"\nbench_browser: {os.cpu_count()} CPUs, watcher={args.watcher or 'streamlit default'}, "
          f"load average {os.getloadavg()[0]:.1f}; server log: {log}")
    print(f"{'measure':42} {'n':>3} {'p50':>8} {'p95':>8} {'max':>8} {'target':>8}  verdict")
    for name, values, target, unit, verdict in rows:
        show = (lambda s: f"{s * 1000:.0f}ms") if unit == "ms" else (lambda s: f"{s:.2f}s")
        print(f"{name:42} {len(values):3d} {show(statistics.median(values)):>8} {show(quantile(values, 0.95)):>8} "
              f"{show(max(values)):>8} {show(target) if target else '':>8}  {verdict}")
    print("Verdicts: the slider and the cold starts on their median, each switch on its worst.")
    if fresh["lost"]:
        print(f"Map page: {fresh['lost']} of the {sum(map(len, fresh['switches'].values())) + fresh['lost']} "
              "clicks on \"Compute map\" were lost (the old map came back); each switch is timed on the click "
              "that took effect.")


def compare_slider_runtimes(args) -> None:
    runtimes = [r.strip() for r in args.slider_runtimes.split(",") if r.strip()]
    unknown = sorted(set(runtimes) - set(RUNTIMES))
    if unknown:
        sys.exit(f"unknown runtime(s) {', '.join(unknown)}; known: {', '.join(RUNTIMES)}")
    times: dict[str, list[float]] = {r: [] for r in runtimes}
    with browser_session() as (browser, cache, log):
        for _ in range(2):  # alternating rounds: a change in the machine's load hits both
            for runtime in runtimes:
                times[runtime] += slider_moves(browser, cache, args.watcher, log, max(30, args.moves) // 2, runtime)[1]
    print(f"\nslider key -> new picture decoded, by the server's runtime ({os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f})")
    for runtime, values in times.items():
        print(f"{runtime:12} n {len(values):3d}  p50 {statistics.median(values) * 1000:6.0f} ms  "
              f"p95 {quantile(values, 0.95) * 1000:6.0f} ms")
    first = runtimes[0]
    for runtime in runtimes[1:]:
        print(f"p50 {first} = {statistics.median(times[first]) / statistics.median(times[runtime]):.2f}x {runtime}'s")


if __name__ == "__main__":
    main()
