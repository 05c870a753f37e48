"""The app in a real browser: ``streamlit run app.py`` on a free port, driven by Chromium through
Playwright. Every page opens without an exception; the WebGL map: the mouse moved over it changes
the decoded image beside it, a lasso's indices reach Python and equal the points inside it,
switching projection sends no figure, nothing is fetched from anywhere but the app; the Plotly map
where WebGL is missing or Plotly is chosen, where a box selection shows the selected images; a
slider moved with the keyboard changes the image the server decodes (in a Chromium without
WebAssembly; the page's own decoding is tests/test_live_browser.py); an uploaded PNG is
reconstructed and placed on the map; the README's own-model path (export, type the path, the card,
Sliders) works as written, with no "Deploy" button.

Needs Debian's Chromium (``apt-get install chromium``, as ``.ci/run`` does); set $CHROMIUM to use
another binary. Screenshots of every page and the server's log go to ``test-output/e2e/``.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import quote

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


# The server and the pages (the browser's contexts) are conftest.py's: shared with the other browser test files.


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


def upload_star(page: Page) -> dict:
    """The upload's mark on the WebGL map shown: its name and its position on the projection shown."""
    return page.evaluate("""() => { const view = [...window.__lxMap.views.values()].find(v => v.root.isConnected);
        const upload = view.marks.upload; return {name: upload.name, xy: upload.xy[view.shown.projection]}; }""")


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
    "map": '.lx-map[data-drawn]',
    "interpolate": '[data-testid="stImageCaption"] >> text=/path, [0-9]+ images/',
    "sample": 'text=/16 samples/',
    "arithmetic": 'text=/a − b \\+ c \\(decoded\\)/',
    "sliders": '[data-testid="stImageCaption"]:has-text("The sample, #")',  # in the page's path and the server's
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
    if path == "anomaly":  # its charts are drawn, not just sent
        expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    if path in ("map", "interpolate"):  # the WebGL map drawn (on Interpolate with the path over it)
        expect(page.locator(".lx-map[data-drawn]").first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    if path == "interpolate":
        expect(page.locator(".lx-map .lx-path")).to_have_count(1)
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


def test_plotly_map_box_selection_shows_the_selected_images(page, server):
    """The Plotly map, as chosen in the link (the fallback where the page has no WebGL)."""
    open_page(page, server, "map?map_drawer=plotly")
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
    open_page(page, server, "map?map_drawer=plotly")
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


def test_slider_changes_the_decoded_image(page_without_wasm, server):
    """The server's path: WebAssembly is off, so the sliders are Streamlit's, decoded on the server."""
    page = page_without_wasm
    open_page(page, server, "sliders")
    # the page reports that it cannot decode, which reruns the app (JavaScript without its compilers is slow)
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("decodes on the server: WebAssembly is off",
                                                                      timeout=RUN_TIMEOUT_MS)
    settle(page)
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
    # The upload is a star on the page's WebGL map, at a finite position.
    expect(page.locator(".lx-map .lx-star")).to_have_count(1)
    star = upload_star(page)
    assert star["name"] == "seven.png" and np.isfinite(star["xy"]).all()
    # ...and on the Map page of the same session, reached through the sidebar.
    page.locator('[data-testid="stSidebarNav"] a', has_text="Map").first.click()
    expect(page.locator('[data-testid="stMain"] h1').first).to_contain_text("Map")
    expect(page.locator(".lx-map .lx-star")).to_have_count(1)
    settle(page)
    shot(page, "map-with-upload")
    assert_clean(page)
    assert upload_star(page) == star  # the same map (PCA), the same place


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


def test_your_own_model_the_readme_way(page, server, readme_export):
    """The README's "your own model" path end to end: its export (the readme_export fixture ran the
    README's command as written), the path it gives typed into the sidebar's path box, the card
    naming the exported model as the one active model, and Sliders decoding with it."""
    open_page(page, server, "sliders")
    expect(page.locator('[data-testid="stAppDeployButton"]')).to_have_count(0)  # client.toolbarMode
    page.locator('[data-testid="stSidebar"] summary', has_text="Your own checkpoint").click()
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text("Typed paths may point into checkpoints/, data/ or exported/")
    box = sidebar.locator('input[aria-label^="…or a path"]')
    box.fill(readme_export.relative_to(ROOT).as_posix())  # exported/mnist-vae, as the README writes it
    box.press("Enter")
    expect(sidebar).to_contain_text("Active model: your own")
    settle(page)
    shot(page, "own-model-typed")
    assert_clean(page)
    card = sidebar.inner_text()
    assert "source: ONNX folder mnist-vae" in card and "Compared with it" in card, card
    assert sidebar.locator('[data-testid="stAlertContentError"]').count() == 0
    # Sliders decode with it, in the page: a slider moved, a new picture from the exported decoder.
    expect(sidebar).to_contain_text("decode in this page (onnxruntime-web")
    picture = page.locator(".sliders-view canvas")
    expect(picture).to_be_visible()
    expect(page.locator(".sliders-view .note")).to_have_text("", timeout=RUN_TIMEOUT_MS)  # its decoder is loaded
    settle(page)
    before = picture.evaluate("c => c.toDataURL()")
    slider = page.locator(".sliders-view input.range").first
    for _ in range(8):
        slider.press("ArrowRight")  # focuses the slider there is now, whatever a rerun remounted
    # The component lives in a shadow root, out of document.querySelector's reach: the wait gets the canvas itself.
    page.wait_for_function("([canvas, was]) => canvas.toDataURL() !== was", arg=[picture.element_handle(), before])
    settle(page)
    shot(page, "own-model-slider")
    assert_clean(page)


def test_a_store_opens_as_a_dataset_and_its_map_selects_into_the_gallery(page, server, small_store):
    """Issue 23's store in the browser: typed as the dataset path, its codes drawn by the WebGL map
    (read from the store, all 300), a lasso over them -> the selection's images fetched by reference."""
    requested = open_map(page, server, "?ckpt=shapes-vae&data=folder+or+.npz+path&data_path="
                         + quote(str(small_store), safe=""))
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text("A store: 300 images of shapes:300 encoded with shapes-vae")
    points = page.evaluate(f"""async () => {{ const v = {MAP_VIEW};
        return (await v.projection(v.shown.projection)).positions.length / 2; }}""")
    assert points == 300
    box = page.locator(".lx-map .lx-box").bounding_box()
    page.locator('.lx-map .lx-modes button[data-mode="lasso"]').click()
    corners = [(0.02, 0.02), (0.98, 0.02), (0.98, 0.98), (0.02, 0.98)]
    outline = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy) for fx, fy in corners]
    assert lasso(page, outline + outline[:1], "store-map-lasso", steps=4) > 200
    gallery = page.locator('[data-testid="stMain"] [data-testid="stImage"] img')
    assert gallery.count() >= 16  # the selection's images, read from the shapes grid by reference
    assert_only_the_app(requested, server)


def test_server_log_has_no_traceback(server):
    """Last in this file: whatever the tests above made the server do, it logged no traceback."""
    text = server.log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[text.index("Traceback") - 200:][:4000]


# --- the WebGL map -----------------------------------------------------------------------------------
MAP_VIEW = "[...window.__lxMap.views.values()].find(v => v.root.isConnected)"


def open_map(page: Page, server: StreamlitServer, query: str = "") -> list[str]:
    """The Map page with its WebGL map drawn; returns the list every request's URL is added to."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    open_page(page, server, f"map{query}")
    expect(page.locator(".lx-map[data-drawn]")).to_have_count(1, timeout=RUN_TIMEOUT_MS)
    return requested


def lasso(page: Page, outline, shot_name: str, steps: int = 1) -> int:
    """Draw ``outline`` with the mouse held down (the lasso mode chosen), wait for Python's
    selection summary, and return the number of images it says are selected."""
    page.mouse.move(*outline[0])
    page.mouse.down()
    for point in outline[1:]:
        page.mouse.move(*point, steps=steps)
    page.mouse.up()
    summary = page.locator("text=/[0-9,]+ images selected/").first
    expect(summary).to_be_visible()
    settle(page)
    shot(page, shot_name)
    assert_clean(page)
    return int(re.search(r"([\d,]+) images selected", summary.inner_text()).group(1).replace(",", ""))


def assert_only_the_app(requested: list[str], server: StreamlitServer) -> None:
    strangers = [url for url in requested if not (url.startswith(server.url) or url.startswith(("blob:", "data:")))]
    assert not strangers, strangers


def even_odd_inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Points inside a polygon by the even-odd rule, in NumPy (the page's worker tests the same)."""
    inside = np.zeros(len(points), dtype=bool)
    x, y = points[:, 0], points[:, 1]
    for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0)):
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        inside ^= crosses & (x < x1 + (y - y1) * (x2 - x1) / (y2 - y1))
    return inside


def test_webgl_map_lasso_selects_exactly_the_points_inside_it(page, server):
    requested = open_map(page, server)
    box = page.locator(".lx-map .lx-box").bounding_box()
    page.locator('.lx-map .lx-modes button[data-mode="lasso"]').click()
    cx, cy, r = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5, box["height"] * 0.3
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    radii = r * np.where(np.arange(48) % 2, 1.0, 0.55)  # a star: not convex, so the rule matters
    outline = np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])
    reported = lasso(page, list(outline), "map-lasso")
    polygon = np.array(page.evaluate(f"() => {MAP_VIEW}.lastPolygon")).reshape(-1, 2)
    positions = np.array(page.evaluate(f"""async () => {{ const v = {MAP_VIEW};
        return Array.from((await v.projection(v.shown.projection)).positions); }}"""), dtype=np.float32).reshape(-1, 2)
    expected = np.flatnonzero(even_odd_inside(positions.astype(np.float64), polygon))
    assert 0 < len(expected) < len(positions)
    assert reported == len(expected)
    with page.expect_download() as download:  # Python's indices, as the selection's CSV
        page.locator('[data-testid="stDownloadButton"] button', has_text="Indices as CSV").click()
    lines = Path(download.value.path()).read_text().split()
    assert lines[0] == "index"
    np.testing.assert_array_equal(np.array(lines[1:], dtype=int), expected)
    # the page dims the others: full opacity for exactly the selected points
    assert page.evaluate(f"() => {MAP_VIEW}.shownFlags.reduce((a, b) => a + b, 0)") == len(expected)
    gallery = page.locator('[data-testid="stImageCaption"]', has_text=re.compile(r"^#\d+ · "))
    assert gallery.count() == min(reported, 64)
    assert_only_the_app(requested, server)


def test_webgl_map_cursor_changes_the_decoded_image_without_a_click(page, server):
    requested = open_map(page, server)
    page.wait_for_function(f"() => {MAP_VIEW}.root.dataset.decoder === 'ready'", timeout=RUN_TIMEOUT_MS)
    box = page.locator(".lx-map .lx-box").bounding_box()
    pixels = ("() => { const c = " + MAP_VIEW + ".root.querySelector('.lx-decoded'); "
              "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }")
    seen = []
    for fx in (0.3, 0.7):
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * 0.5, steps=4)
        page.wait_for_function(f"n => {MAP_VIEW}.cursor.samples.length >= n", arg=len(seen) * 4 + 1)
        next_frame(page)
        seen.append(np.array(page.evaluate(pixels), dtype=np.float64))
    assert np.abs(seen[0] - seen[1]).mean() > 1.0, "the decoded image did not follow the mouse"
    assert seen[1].std() > 5  # a picture, not a blank canvas
    caption = page.locator(".lx-map .lx-note").inner_text()
    assert "PCA's exact inverse" in caption, caption
    assert page.locator("text=/pinned on the map/").count() == 0  # moving is not clicking
    # the page's own lookup (grid.js) finds the same nearest points as a search through them all
    mismatches = page.evaluate("""async () => {
        const { PointGrid } = await import('/_stcore/bidi-components/explorer.map/map/grid.js');
        const view = """ + MAP_VIEW + """;
        const positions = (await view.projection(view.shown.projection)).positions;
        const grid = new PointGrid(positions);
        let wrong = 0;
        for (let q = 0; q < 200; q++) {
          const x = grid.minX + Math.random() * grid.cellW * grid.cols, y = grid.minY + Math.random() * grid.cellH * grid.rows;
          const found = grid.nearest(x, y, 8).distances;
          const all = []; for (let i = 0; i < positions.length / 2; i++) all.push(Math.hypot(positions[2*i] - x, positions[2*i+1] - y));
          all.sort((a, b) => a - b);
          if (found.some((d, j) => Math.abs(d - all[j]) > 1e-9)) wrong++;
        }
        return wrong; }""")
    assert mismatches == 0
    shot(page, "map-cursor")
    assert_clean(page)
    assert_only_the_app(requested, server)


def test_webgl_map_switches_projection_in_the_page_without_a_figure(page, server):
    frames: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(len(payload))))
    requested = open_map(page, server, "?map_method=t-SNE&tsne_n_iter=60")
    # t-SNE computes in the background; once done, its tab joins PCA's in the map's toolbar
    expect(page.locator('.lx-map .lx-tabs button[data-projection="tsne"]')).to_have_count(1, timeout=RUN_TIMEOUT_MS)
    page.wait_for_function(f"() => {MAP_VIEW}.shown.projection === 'tsne'", timeout=RUN_TIMEOUT_MS)
    settle(page)
    frames.clear()
    fetched_before = len(requested)
    for method in ("pca", "tsne", "pca"):
        drawn = int(page.locator(".lx-map").get_attribute("data-drawn"))
        page.locator(f'.lx-map .lx-tabs button[data-projection="{method}"]').click()
        page.wait_for_function(f"n => {MAP_VIEW}.shown.projection === '{method}' && +{MAP_VIEW}.root.dataset.drawn > n",
                               arg=drawn)
        settle(page)  # the run that follows (the view, for the link) is over too
    # the server heard which map is shown: its next run sends PCA as the map to show
    page.wait_for_function(f"() => {MAP_VIEW}.data.projection === 'pca'")
    assert frames and max(frames) < 20_000, sorted(frames)[-5:]  # a Plotly figure of 5,000 points: > 200 KB
    assert [url for url in requested[fetched_before:] if "/data/" in url] == []  # the arrays were in the page
    assert_clean(page)
    assert_only_the_app(requested, server)


def test_map_without_webgl_is_the_plotly_map(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script("""(() => { const original = HTMLCanvasElement.prototype.getContext;
        HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
          return /webgl/.test(kind) ? null : original.call(this, kind, ...rest); }; })()""")
    page = context.new_page()
    try:
        page.goto(f"{server.url}/map")
        expect(page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot .gtitle')).to_contain_text(
            "of 5,000 codes", timeout=RUN_TIMEOUT_MS)
        settle(page)
        expect(page.locator("text=/this browser has no WebGL/")).to_be_visible()
        assert_clean(page)
    finally:
        context.close()
