"""One browser context = one Streamlit session, doing what a person would: slider key presses,
map changes and uploads, each timed, every failure recorded with a screenshot."""
from __future__ import annotations

import asyncio
import io
import random
import re
import time
from pathlib import Path

from benchmarks.harness import HIDE_WASM, HOST
from benchmarks.load.config import Config
from benchmarks.load.page_scripts import (COLOURBAR_JS, IDLE_JS, LATENCY_PROBE, MAP_TITLE_JS, PAGE_READY, PLOT_TEXT_JS,
                                          READY_JS, TITLE_JS)
from benchmarks.load.stats import SessionStats
from explorer.projection import label as method_label
from explorer.shipped import DEFAULT_CHECKPOINT



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
        # no WebAssembly in the pages: the app decodes the sliders on the server, which is what this run loads
        await self.context.add_init_script(HIDE_WASM)
        # Anything not addressed to the local server is aborted (and counted); matched in the driver.
        elsewhere = re.compile(rf"^(?!(http|ws)://{re.escape(HOST)}:{int(self.base.rsplit(':', 1)[1])}/)")
        await self.context.route(elsewhere, self._block)
        await self.context.add_init_script(LATENCY_PROBE)
        self.page = await self.context.new_page()
        self.page.set_default_timeout(self.config.action_timeout_s * 1000)
        self.page.on("pageerror", lambda e: self.stats.errors.append(f"JavaScript error: {str(e)[:300]}"))
        start = time.perf_counter()
        # the Plotly map (the session keeps the choice): this run drives its form, radio and chart
        await self.page.goto(self.base + "/?map_drawer=plotly", wait_until="domcontentloaded")
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
        if DEFAULT_CHECKPOINT not in picked:  # nobody here changes the checkpoint: the sidebar must keep it
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
        label = method_label(method)
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
                await self.page.goto(self.base + "/?map_drawer=plotly", wait_until="domcontentloaded")
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

