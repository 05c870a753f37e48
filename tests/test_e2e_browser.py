"""The app in a real browser: ``streamlit run app.py`` on a free port, driven by Chromium through
Playwright. Every page opens without an exception; a box selection on the Map shows the selected
images; a slider moved with the keyboard changes the decoded image; an uploaded PNG is
reconstructed and placed on the map.

Needs Debian's Chromium (``apt-get install chromium``, as ``.ci/run`` does); set $CHROMIUM to use
another binary. Screenshots of every page and the server's log go to ``test-output/e2e/``.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from benchmarks.harness import StreamlitServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "test-output" / "e2e"
RUN_TIMEOUT_MS = 120_000  # one page run; the first one encodes the dataset on 2 busy cores
SHOWN_TIMEOUT_MS = 30_000  # something the finished run sent, drawn
PAGE_TIMEOUT_MS, EXPECT_TIMEOUT_MS = 60_000, SHOWN_TIMEOUT_MS  # for conftest's page fixture
PAGES = {  # URL path -> title
    "map": "Map", "interpolate": "Interpolate", "sample": "Sample", "arithmetic": "Arithmetic",
    "sliders": "Sliders", "compare": "Compare", "upload": "Upload", "anomaly": "Anomaly",
}


# --- helpers ---------------------------------------------------------------------------------------
def settle(page: Page) -> None:
    """Until the app's script run has finished and its "running" indicator is gone. Call it once
    something the run draws has appeared: before the run starts, the app is idle too."""
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning",
                                                                     timeout=RUN_TIMEOUT_MS)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=RUN_TIMEOUT_MS)


def open_page(page: Page, server: StreamlitServer, path: str) -> None:
    page.goto(f"{server.url}/{path}")
    expect(page.locator('[data-testid="stMain"] h1').first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    settle(page)


def next_frame(page: Page) -> None:
    """Until the browser has drawn two more frames (layout, then paint)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))")


def assert_clean(page: Page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.all_inner_texts()
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, errors.all_inner_texts()
    dialogs = page.locator('[role="dialog"]')
    assert dialogs.count() == 0, dialogs.all_inner_texts()  # e.g. Streamlit's "Page not found"


def shot(page: Page, name: str) -> None:
    """The whole page: the app scrolls inside its main block, so the window is made as tall as
    that block's content for the picture (full_page alone would show the first screen only)."""
    viewport = page.viewport_size
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll("
                           "'[data-testid=\"stMain\"], [data-testid=\"stSidebarContent\"]')].map(e => e.scrollHeight))")
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], min(int(height), 8000))})
    try:
        next_frame(page)  # charts follow the new size
        page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    finally:
        page.set_viewport_size(viewport)


def image_by_caption(page: Page, caption: str):
    """The img of the st.image whose caption contains ``caption``."""
    return page.locator('[data-testid="stImageContainer"]').filter(
        has=page.locator('[data-testid="stImageCaption"]', has_text=caption)).locator("img").first


def pixels(page: Page, src: str) -> np.ndarray:
    """The picture the browser was sent for an img src, as grey levels."""
    response = page.request.get(src)
    assert response.ok, f"{src}: HTTP {response.status}"
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("L"), dtype=np.float64)


def plot_traces(page: Page) -> list[list[dict]]:
    """name, number of points and first point of every trace of every Plotly chart on the page."""
    # _fullData: the traces as drawn, their coordinates decoded from the typed arrays sent
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(plot =>
        (plot._fullData || []).map(t => ({name: t.name || '', n: (t.x || []).length,
                                     x0: t.x && t.x.length ? Number(t.x[0]) : null,
                                     y0: t.y && t.y.length ? Number(t.y[0]) : null})))""")


def digit_png(size: int = 140) -> bytes:
    """A dark "7" drawn on a light background, as a phone photo of a digit would be."""
    picture = Image.new("L", (size, size), 235)
    draw = ImageDraw.Draw(picture)
    s = size / 140
    draw.line([(32 * s, 30 * s), (108 * s, 30 * s), (62 * s, 118 * s)], fill=20, width=int(14 * s), joint="curve")
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return buf.getvalue()


# --- the tests ------------------------------------------------------------------------------------------
CONTENT = {  # a locator that only the page's own content matches, once it has run
    "map": '.js-plotly-plot .gtitle:has-text("of 5,000 codes")',
    "interpolate": '[data-testid="stImageCaption"] >> text=/path, [0-9]+ images/',
    "sample": 'text=/16 samples/',
    "arithmetic": 'text=/a − b \\+ c \\(decoded\\)/',
    "sliders": '[data-testid="stImageCaption"]:has-text("Decoded from the sliders")',
    "compare": '[data-testid="stDataFrame"]',
    "upload": '[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]',
    "anomaly": 'text=/are above the threshold/',
}


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_opens_and_runs_clean(page, server, path):
    open_page(page, server, path)
    heading = page.locator('[data-testid="stMain"] h1').first.inner_text()
    assert PAGES[path] in heading, heading
    content = page.locator(CONTENT[path]).first
    if path == "upload":  # the file input itself is hidden behind the drop zone
        expect(content).to_be_attached()
    else:
        expect(content).to_be_visible()
    if path in ("map", "interpolate", "anomaly"):  # their charts are drawn, not just sent
        expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    settle(page)
    # something drawn; waited for, not counted: on a busy machine the browser may still be turning
    # the finished run's elements from skeletons into pictures
    expect(page.locator('[data-testid="stImage"] img, .js-plotly-plot, [data-testid="stFileUploader"]').first
           ).to_be_attached(timeout=RUN_TIMEOUT_MS)
    shot(page, path)
    assert_clean(page)


def test_root_url_is_the_map(page, server):
    open_page(page, server, "")
    assert "Map" in page.locator('[data-testid="stMain"] h1').first.inner_text()
    assert_clean(page)


def test_map_box_selection_shows_the_selected_images(page, server):
    open_page(page, server, "map")
    plot = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    plot.locator(".main-svg").first.wait_for()
    # Count what Plotly itself selects, to compare with what the app reports.
    plot.evaluate("p => p.on('plotly_selected', e => { window.__selected = e ? e.points.length : 0; })")
    box = plot.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the modebar shows on hover
    plot.locator('.modebar-btn[data-val="select"]').click()
    assert plot.evaluate("p => p._fullLayout.dragmode") == "select"
    x0, y0 = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.35
    x1, y1 = box["x"] + box["width"] * 0.65, box["y"] + box["height"] * 0.65
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * k / 10, y0 + (y1 - y0) * k / 10)
    page.mouse.up()
    selected_in_browser = page.wait_for_function("() => window.__selected").json_value()
    assert selected_in_browser > 0
    summary = page.locator("text=/[0-9,]+ images selected/").first
    expect(summary).to_be_visible()
    settle(page)
    shot(page, "map-selection")
    assert_clean(page)
    reported = int(re.search(r"([\d,]+) images selected", summary.inner_text()).group(1).replace(",", ""))
    assert reported == selected_in_browser
    gallery = page.locator('[data-testid="stImageCaption"]', has_text=re.compile(r"^#\d+ · "))
    assert gallery.count() == min(reported, 64)  # the page shows 64, evenly spaced
    src = image_by_caption(page, " · ").get_attribute("src")
    assert pixels(page, src).std() > 10  # a real picture, not a blank tile


TRACES_ARE = """(names) => {
  const got = ([...document.querySelectorAll('.js-plotly-plot')][0]?._fullData || []).map(t => t.name || '');
  return got.length === names.length && names.every(n => got.includes(n));
}"""


def chosen(page: Page, radio_label: str) -> str:
    radio = page.locator('[data-testid="stRadio"]').filter(has=page.locator('[data-testid="stWidgetLabel"]',
                                                                            has_text=radio_label))
    return radio.locator('[data-selected="true"] [data-testid="stRadioOption"]').inner_text().strip()


def test_a_setting_changed_twice_keeps_the_second_choice(page, server):
    """Widgets whose start value comes from the link they write back once got a new identity
    after each change, so every second change was dropped and the widget sprang back."""
    open_page(page, server, "map")
    for wanted, traces in (("reconstruction error", {"images"}), ("label", {str(d) for d in range(10)}),
                           ("reconstruction error", {"images"})):
        page.locator('[data-testid="stRadioOption"]', has_text=re.compile(f"^{wanted}$")).click()
        page.wait_for_function(TRACES_ARE, arg=sorted(traces), timeout=SHOWN_TIMEOUT_MS)  # the rerun drew them
        settle(page)
        assert chosen(page, "Colour by") == wanted  # still, after the run: it did not spring back
        names = {t["name"] for t in plot_traces(page)[0]}
        assert names == traces, names
    open_page(page, server, "sample")
    count = page.locator('[data-testid="stNumberInput"]').filter(has_text="How many").locator("input")
    for wanted in (5, 7, 9):
        count.fill(str(wanted))
        count.press("Enter")
        expect(page.locator(f"text=/^{wanted} samples/")).to_have_count(1)
        settle(page)
        expect(count).to_have_value(str(wanted))


def test_slider_changes_the_decoded_image(page, server):
    open_page(page, server, "sliders")
    decoded = image_by_caption(page, "Decoded from the sliders")
    before_src = decoded.get_attribute("src")
    before = pixels(page, before_src)
    slider = page.locator('[data-testid="stSlider"]').first
    value_before = float(slider.locator('[data-testid="stSliderThumbValue"]').inner_text())
    thumb = slider.locator('input[type="range"]')
    thumb.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("src => [...document.querySelectorAll('[data-testid=\"stImageContainer\"]')].some("
                           "c => c.innerText.includes('Decoded from the sliders') && c.querySelector('img').src !== src)",
                           arg=before_src)
    settle(page)
    shot(page, "sliders-moved")
    assert_clean(page)
    value_after = float(slider.locator('[data-testid="stSliderThumbValue"]').inner_text())
    assert value_after > value_before
    after = pixels(page, decoded.get_attribute("src"))
    assert after.shape == before.shape
    assert np.abs(after - before).mean() > 1.0, "the decoded image did not change"


def test_upload_is_reconstructed_and_placed_on_the_map(page, server):
    open_page(page, server, "upload")
    page.locator('[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "seven.png", "mimeType": "image/png", "buffer": digit_png()}])
    expect(page.locator('[data-testid="stImageCaption"]:has-text("reconstruction")').first).to_be_visible()
    expect(page.locator("text=/Higher than [0-9.]+% of the dataset/").first).to_be_visible()
    settle(page)
    shot(page, "upload-done")
    assert_clean(page)
    model_input = pixels(page, image_by_caption(page, "model input").get_attribute("src"))
    reconstruction = pixels(page, image_by_caption(page, "reconstruction").get_attribute("src"))
    assert model_input.shape == reconstruction.shape
    similarity = np.corrcoef(model_input.ravel(), reconstruction.ravel())[0, 1]
    assert similarity > 0.5, f"the reconstruction does not look like the upload (correlation {similarity:.2f})"
    # The upload is a star on the page's map, at a finite position.
    stars = [t for traces in plot_traces(page) for t in traces if t["name"] == "seven.png"]
    assert len(stars) == 1 and stars[0]["n"] == 1, stars
    assert np.isfinite([stars[0]["x0"], stars[0]["y0"]]).all()
    # ...and on the Map page of the same session, reached through the sidebar.
    page.locator('[data-testid="stSidebarNav"] a', has_text="Map").first.click()
    expect(page.locator('[data-testid="stMain"] h1').first).to_contain_text("Map")
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some("
                           "p => (p.data || []).some(t => t.name === 'seven.png'))")
    settle(page)
    shot(page, "map-with-upload")
    assert_clean(page)
    on_map = [t for traces in plot_traces(page) for t in traces if t["name"] == "seven.png"]
    assert on_map == stars  # the same map (PCA), the same place


def test_a_checkpoint_uploaded_in_the_sidebar_is_stored_once_and_becomes_the_active_model(page, server):
    """Its files are written once: rewriting them on every rerun (each slider move) changed
    their mtime, which made the engine cache load the model again every time."""
    open_page(page, server, "sliders")
    page.locator('[data-testid="stSidebar"] summary', has_text="Your own checkpoint").click()
    folder = ROOT / "checkpoints" / "mnist-conv-ae"
    page.locator('[data-testid="stSidebar"] [data-testid="stFileUploaderDropzoneInput"]').set_input_files(files=[
        {"name": name, "mimeType": mime, "buffer": (folder / name).read_bytes()}
        for name, mime in (("config.json", "application/json"), ("model.safetensors", "application/octet-stream"))])
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("mnist-conv-ae")
    settle(page)
    shot(page, "sidebar-checkpoint-upload")
    assert_clean(page)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "conv_ae" in sidebar and "Uploaded checkpoint" not in sidebar, sidebar
    stored = [f for f in (server.cache / "uploads").rglob("*") if f.is_file()]
    assert sorted(f.name for f in stored) == ["config.json", "model.safetensors"]
    written = {f: f.stat().st_mtime_ns for f in stored}
    # A whole-page rerun (the sliders themselves only rerun their fragment): the next sample.
    start = page.locator('[data-testid="stMain"] [data-testid="stNumberInput"]').first
    index = int(start.locator("input").input_value())
    start.locator('[data-testid="stNumberInputStepUp"]').click()
    expect(page.locator(f'[data-testid="stImageCaption"]:has-text("The sample, #{index + 1} ")')).to_be_visible()
    settle(page)
    assert_clean(page)
    assert {f: f.stat().st_mtime_ns for f in stored} == written


def test_server_log_has_no_traceback(server):
    """Last in this file: whatever the tests above made the server do, it logged no traceback."""
    text = server.log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[text.index("Traceback") - 200:][:4000]
