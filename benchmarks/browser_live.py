"""The in-page decoder timed in a real browser (part of ``python -m benchmarks.bench_browser``;
``--live`` runs only this part).

For each model (mnist-vae, and the 64x64 colour shapes-beta-tcvae on 2,000 generated sprites),
on one server whose caches a first, untimed page load has filled:

1. page open -> decoder ready, in a new browser context (nothing in its Cache API or HTTP cache:
   a cold browser) and then reloaded in the same context (warm: the .wasm and the decoder come
   from the Cache API); from navigation start to the decoder's session ready (its first run
   done) and to the Sliders view's first picture drawn (ready to drag); with the bytes the
   server sent for each page load (HTTP bodies and headers as sent, and WebSocket frames);
2. a held-down drag on the top slider: mouse down on its thumb, moved 2 px at a time every 8 ms
   (a 125 Hz mouse) across the slider and back, three times, then released; every input event
   the page received is counted, and each picture drawn is timed from its input event's
   timestamp to the moment the picture is in the canvas (``putImageData`` done);
3. play: the top dimension played for 3 s; frames drawn per second;
4. beside them, the server path: the same page with WebAssembly hidden from it (an init script,
   JavaScript otherwise at full speed), where the app decodes on the server: an arrow key on the
   top slider (a release: Streamlit sends the value) -> the new image drawn, 20 times.

Everything the pages ask for is checked to go to the app's own address.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

from playwright.sync_api import Browser, Page

from benchmarks.harness import HIDE_WASM, StreamlitServer

MODELS = {  # name -> the Sliders page's link for it
    "mnist-vae": "sliders?ckpt=mnist-vae&data=mnist",
    "shapes-beta-tcvae": "sliders?ckpt=shapes-beta-tcvae&data=folder+or+.npz+path&data_path=shapes%3A2000",
}
TARGETS = {  # the issue's, in seconds
    "drag_p50": {"mnist-vae": 0.002, "shapes-beta-tcvae": 0.004},
    "drag_p95": {"mnist-vae": 0.008, "shapes-beta-tcvae": 0.008},
    "ready_cold": 3.0, "ready_warm": 1.0,
}
PAGE_TIMEOUT_MS = 180_000
MOUSE_STEP_PX = 2
MOUSE_INTERVAL_S = 0.008
SWEEPS = 3

# Listens to what the page does (explorer/frontend/trace.js) and counts the slider's input events.
PROBE = """
window.__live = {inputs: 0, drawn: [], decoder: null, played: null};
document.addEventListener('input', (e) => {
  const t = e.composedPath()[0];
  if (t && t.classList && t.classList.contains('range') && t.closest('.sliders-view')) window.__live.inputs += 1;
}, true);
window.addEventListener('latent-explorer:drawn', (e) => {
  if (e.detail.view === 'sliders') window.__live.drawn.push([e.detail.seq, e.detail.inputAt, e.detail.drawnAt]);
});
window.addEventListener('latent-explorer:decoder', (e) => {
  if (e.detail.ok && !window.__live.decoder) window.__live.decoder = {...e.detail, at: performance.now()};
});
window.addEventListener('latent-explorer:played', (e) => { window.__live.played = e.detail; });
"""
FIRST_DRAWN = "() => window.__live.drawn.length > 0"


@dataclass
class Transfer:
    """What the server sent for one page load."""

    http_bytes: int = 0  # HTTP responses as sent (Chromium's encodedDataLength: headers and body)
    requests: int = 0
    websocket_bytes: int = 0
    elsewhere: list[str] = field(default_factory=list)  # requests to any other address


class Meter:
    """Chromium's network events of one page, counted into ``current`` (a new Transfer per load)."""

    def __init__(self, page: Page, origin: str):
        self.current = Transfer()
        session = page.context.new_cdp_session(page)
        session.send("Network.enable")
        session.on("Network.loadingFinished", self._finished)
        session.on("Network.webSocketFrameReceived", self._frame)
        page.on("request", lambda r: None if r.url.startswith((origin, "data:", "blob:"))
                else self.current.elsewhere.append(r.url))

    def _finished(self, event: dict) -> None:
        self.current.http_bytes += int(event.get("encodedDataLength", 0))
        self.current.requests += 1

    def _frame(self, event: dict) -> None:
        response = event.get("response", {})
        payload = response.get("payloadData", "")
        # binary frames (Streamlit's protobuf messages) come base64-encoded
        self.current.websocket_bytes += len(payload) * 3 // 4 if response.get("opcode") == 2 else len(payload)


@dataclass
class ModelFigures:
    name: str
    ready: dict[str, float] = field(default_factory=dict)  # "cold"/"warm" -> s to the decoder ready
    drawn: dict[str, float] = field(default_factory=dict)  # "cold"/"warm" -> s to the first picture
    transfer: dict[str, Transfer] = field(default_factory=dict)
    reports: dict[str, dict] = field(default_factory=dict)  # "cold"/"warm" -> the decoder's report (trace.js)
    inputs: int = 0
    drag: list[float] = field(default_factory=list)  # input event -> picture drawn, s
    fps: float = 0.0
    frames: int = 0
    server: list[float] = field(default_factory=list)  # server path: release -> image drawn, s


MAIN_REQUESTED = ("() => performance.getEntriesByType('resource')"
                  ".find(r => r.name.includes('/explorer.live/main.js'))?.startTime ?? null")


def open_and_time(page: Page, url: str) -> tuple[float, float, dict]:
    """Navigate; (s to the decoder ready, s to the Sliders view's first picture, the decoder's report
    with where the time went: ms until the page asked for main.js, and the decoder's phases)."""
    page.goto(url)
    page.wait_for_function(FIRST_DRAWN, timeout=PAGE_TIMEOUT_MS)
    decoder = page.evaluate("() => window.__live.decoder")
    decoder["main_js_ms"] = page.evaluate(MAIN_REQUESTED)
    first = page.evaluate("() => window.__live.drawn[0][2]")
    return decoder["at"] / 1000, first / 1000, decoder


def page_open(browser: Browser, server: StreamlitServer, figures: ModelFigures, path: str) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.add_init_script(PROBE)
        meter = Meter(page, server.url)
        for state in ("cold", "warm"):
            meter.current = figures.transfer[state] = Transfer()
            ready, drawn, report = open_and_time(page, f"{server.url}/{path}")
            settle(page)
            figures.ready[state], figures.drawn[state], figures.reports[state] = ready, drawn, report
        meter.current = Transfer()  # the drag and play: counted apart, only for requests elsewhere
        figures.transfer["drag and play"] = meter.current
        held_drag(page, figures)
        play(page, figures)
    finally:
        context.close()


def settle(page: Page) -> None:
    page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                           "?.getAttribute('data-test-script-state') === 'notRunning'", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=PAGE_TIMEOUT_MS)


def held_drag(page: Page, figures: ModelFigures) -> None:
    thumb_box = page.locator(".sliders-view input.range").first.bounding_box()
    low, high = thumb_box["x"] + 4, thumb_box["x"] + thumb_box["width"] - 4
    y = thumb_box["y"] + thumb_box["height"] / 2
    value = float(page.locator(".sliders-view input.range").first.input_value())
    # start on the thumb: its position from the value
    bounds = page.locator(".sliders-view input.range").first.evaluate("e => [Number(e.min), Number(e.max)]")
    x = low + (high - low) * (value - bounds[0]) / (bounds[1] - bounds[0])
    before_seq = page.evaluate("() => Math.max(0, ...window.__live.drawn.map(d => d[0]))")
    before_inputs = page.evaluate("() => window.__live.inputs")
    page.mouse.move(x, y)
    page.mouse.down()
    targets = [high, low] * SWEEPS + [x]
    next_at = time.perf_counter()
    for target in targets:
        while abs(target - x) >= MOUSE_STEP_PX:
            x += MOUSE_STEP_PX if target > x else -MOUSE_STEP_PX
            next_at += MOUSE_INTERVAL_S
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # a mouse's pace, not a wait for something
            page.mouse.move(x, y)
    inputs = page.evaluate("() => window.__live.inputs") - before_inputs
    page.wait_for_function("([seq, n]) => window.__live.drawn.filter(d => d[0] > seq).length >= n",
                           arg=[before_seq, inputs], timeout=30_000)
    page.mouse.up()
    drawn = page.evaluate("(seq) => window.__live.drawn.filter(d => d[0] > seq)", before_seq)
    figures.inputs = inputs
    figures.drag = [(d[2] - d[1]) / 1000 for d in drawn[:inputs]]
    if len(figures.drag) != inputs:
        raise RuntimeError(f"{inputs} input events but {len(figures.drag)} pictures drawn")
    settle(page)


def play(page: Page, figures: ModelFigures) -> None:
    button = page.locator(".sliders-view button.play")
    button.click()
    page.wait_for_timeout(3000)  # the animation runs for 3 s; nothing to wait on
    button.click()
    page.wait_for_function("() => window.__live.played !== null")
    played = page.evaluate("() => window.__live.played")
    figures.fps, figures.frames = played["fps"], played["frames"]
    settle(page)


SERVER_IMAGE = """() => {
  const L = window.__srv = {t0: null, src: null, tDrawn: null};
  const decoded = () => [...document.querySelectorAll('[data-testid="stImageContainer"]')]
    .find(c => (c.innerText || '').includes('Decoded from the sliders'))?.querySelector('img');
  L.src = decoded().src;
  document.addEventListener('keydown', () => { L.t0 = performance.now(); L.tDrawn = null; }, true);
  new MutationObserver(() => {
    const img = decoded();
    if (img && img.src !== L.src) {
      L.src = img.src;
      img.decode().then(() => { L.tDrawn = performance.now(); }, () => { L.tDrawn = performance.now(); });
    }
  }).observe(document.querySelector('[data-testid="stMain"]'),
             {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def server_path(browser: Browser, server: StreamlitServer, figures: ModelFigures, path: str,
                presses: int = 20) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        context.add_init_script(HIDE_WASM)
        page = context.new_page()
        page.goto(f"{server.url}/{path}")
        # the page's report (no WebAssembly) reruns the app once: wait for its answer in the model card
        page.wait_for_selector('[data-testid="stSidebar"] >> text=decodes on the server', timeout=PAGE_TIMEOUT_MS)
        page.wait_for_selector('[data-testid="stImageCaption"]:has-text("Decoded from the sliders")',
                               timeout=PAGE_TIMEOUT_MS)
        settle(page)
        page.evaluate(SERVER_IMAGE)
        page.locator('[data-testid="stSlider"] input[type="range"]').first.focus()
        for k in range(presses + 2):
            page.keyboard.press("ArrowRight" if (k // 6) % 2 == 0 else "ArrowLeft")  # stay inside the range
            page.wait_for_function("() => window.__srv.tDrawn !== null", timeout=30_000)
            if k >= 2:  # the first ones warm the page up
                figures.server.append(page.evaluate("() => window.__srv.tDrawn - window.__srv.t0") / 1000)
            settle(page)
            page.wait_for_timeout(150)  # a person's pace between key presses, not a wait for something
    finally:
        context.close()


def measure(browser: Browser, server: StreamlitServer) -> list[ModelFigures]:
    results = []
    for name, path in MODELS.items():
        warm_up = browser.new_context()  # the server's first run of this model (load, encode): untimed
        try:
            page = warm_up.new_page()
            page.add_init_script(PROBE)
            open_and_time(page, f"{server.url}/{path}")
        finally:
            warm_up.close()
        figures = ModelFigures(name)
        page_open(browser, server, figures, path)
        server_path(browser, server, figures, path)
        results.append(figures)
    return results


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def verdict(value: float, target: float | None) -> str:
    return "" if target is None else ("ok" if value <= target else "MISSED")


def report(results: list[ModelFigures]) -> None:
    print(f"\nThe decoder in the page (onnxruntime-web, WebAssembly, one thread) beside the server path; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'measure':58} {'n':>4} {'p50':>9} {'p95':>9} {'max':>9} {'target':>9}  verdict")

    def ms(s: float) -> str:
        return f"{s * 1000:.2f}ms" if s < 0.1 else f"{s * 1000:.0f}ms"

    for f in results:
        drag_p50, drag_p95 = statistics.median(f.drag), quantile(f.drag, 0.95)
        rows = [
            (f"{f.name}: held drag, input event -> picture drawn", len(f.drag), f.drag,
             f"p50 {ms(TARGETS['drag_p50'][f.name])}, p95 {ms(TARGETS['drag_p95'][f.name])}",
             "ok" if drag_p50 <= TARGETS["drag_p50"][f.name] and drag_p95 <= TARGETS["drag_p95"][f.name] else "MISSED"),
            (f"{f.name}: server path (no WebAssembly), release -> image", len(f.server), f.server, "", ""),
        ]
        for name, n, values, target, judged in rows:
            print(f"{name:58} {n:4d} {ms(statistics.median(values)):>9} {ms(quantile(values, 0.95)):>9} "
                  f"{ms(max(values)):>9} {target:>9}  {judged}")
        print(f"{f.name}: {f.inputs} input events during the drag, {len(f.drag)} decoded and drawn "
              f"({'none skipped' if len(f.drag) == f.inputs else 'SOME SKIPPED'})")
        for state in ("cold", "warm"):
            target = TARGETS[f"ready_{state}"]
            t, r = f.transfer[state], f.reports[state]
            print(f"{f.name}: page open -> decoder ready, {state} browser: {f.ready[state]:.2f} s "
                  f"(target {target:.0f} s: {verdict(f.ready[state], target)}); first picture drawn "
                  f"{f.drawn[state]:.2f} s; sent {t.http_bytes / 1e6:.2f} MB in {t.requests} HTTP responses "
                  f"+ {t.websocket_bytes / 1e6:.2f} MB over the WebSocket")
            print(f"    of which: until the page asked for main.js {r['main_js_ms'] or 0:.0f} ms (Streamlit's page "
                  f"and its first run); runtime {r['runtime_ms']} ms (.wasm from the {r['wasm_from']}), runtime "
                  f"and decoder bytes {r['load_ms']:.0f} ms (decoder from the {r['model_from']}), session "
                  f"{r['session_ms']:.0f} ms, first run {r['first_run_ms']:.0f} ms")
        print(f"{f.name}: play, {f.frames} frames drawn in 3 s: {f.fps:.1f} frames per second")
        elsewhere = [u for t in f.transfer.values() for u in t.elsewhere]
        print(f"{f.name}: requests to any other address than the app's: {len(elsewhere)} {elsewhere[:3]}")
