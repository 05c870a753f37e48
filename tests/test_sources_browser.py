"""In a real browser: an ONNX pair (+ explorer.json) and a .keras file uploaded through the
sidebar each become the active model, and the Map draws their codes."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "test-output" / "e2e-sources"
RUN_TIMEOUT_MS = 180_000  # the first run after an upload exports the model and encodes 5,000 images
PAGE_TIMEOUT_MS = EXPECT_TIMEOUT_MS = RUN_TIMEOUT_MS  # for conftest's page fixture


@pytest.fixture(scope="module")
def own_models(tmp_path_factory, mnist) -> dict[str, list[Path]]:
    from explorer.sources import open_model
    from explorer.sources.export import export_onnx

    root = tmp_path_factory.mktemp("uploads")
    onnx = export_onnx(open_model(ROOT / "checkpoints" / "mnist-ae"), root / "onnx", exporters=("torchscript",))
    from examples.keras_autoencoders import dense_autoencoder, fitted

    fitted(dense_autoencoder, mnist.x[:512])[0].save(root / "tutorial.keras")
    return {"onnx": [onnx / "encoder.onnx", onnx / "decoder.onnx", onnx / "explorer.json"],
            "keras": [root / "tutorial.keras"]}


def settle(page: Page) -> None:
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)


@pytest.mark.parametrize("kind, source_text", [("onnx", "source: ONNX folder"), ("keras", "source: Keras 3")])
def test_an_uploaded_own_model_becomes_active_and_the_map_draws_it(page, server, own_models, kind, source_text):
    page.goto(f"{server.url}/")
    expect(page.locator('[data-testid="stMain"] h1').first).to_be_visible()
    settle(page)
    page.locator('[data-testid="stSidebar"] summary', has_text="Your own checkpoint").click()
    page.locator('[data-testid="stSidebar"] [data-testid="stFileUploaderDropzoneInput"]').set_input_files(files=[
        {"name": f.name, "mimeType": "application/octet-stream", "buffer": f.read_bytes()} for f in own_models[kind]])
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text(source_text)
    expect(sidebar).to_contain_text("CPU, onnxruntime")
    latent = {"onnx": 16, "keras": 32}[kind]
    expect(sidebar).to_contain_text(f"latent {latent}")
    title = page.locator(".js-plotly-plot .gtitle", has_text="of 5,000 codes")
    expect(title).to_be_visible()
    settle(page)
    page.screenshot(path=str(OUT / f"map-{kind}.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, errors.all_inner_texts()
    points = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot =>
        (plot._fullData || []).map(t => (t.x || []).length)).reduce((a, b) => a + b, 0)""")
    assert points >= 5000
