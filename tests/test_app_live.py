"""The Sliders and Interpolate pages in Streamlit's simulated browser, where no JavaScript runs
and no browser sent a User-Agent: the server path stays whole there (sliders decoded on the
server, the code kept in the link) and the model card says so. With a browser (simulated: the
check that one is connected answers yes), the pages hand their sliders and their player to the
page at once, and a report from the page that it cannot decode sends them back to the server."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import code_link
from explorer.frontend import decoders, status
from explorer.sources import open_model

ROOT = Path(__file__).resolve().parents[1]
MODEL = "mnist-ae"


def open_page(page: str, reports: status.Reports | None = None, **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(ckpt=MODEL, data="mnist", **params)
    if reports is not None:
        at.session_state[status.REPORTS_KEY] = reports
    at.switch_page(f"explorer/ui/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture
def with_browser(monkeypatch):
    """As if a browser had opened the session (AppTest runs the app in this process)."""
    monkeypatch.setattr(status, "browser_connected", lambda: True)


def card(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def components(at: AppTest) -> dict[str, dict]:
    """The explorer.live instances on the page: key -> the data sent (the JSON part)."""
    found = {}
    for element in at.get("bidi_component"):
        proto = element.proto
        if proto.component_name != "explorer.live":  # the map's (explorer.map) is tests/test_map_webgl.py's
            continue
        text = proto.json if proto.WhichOneof("data") == "json" else proto.mixed.json
        found[element.key] = json.loads(text)
    return found


def slider_values(at: AppTest) -> np.ndarray:
    values = {int(s.label.split(" ")[0][1:]): s.value for s in at.slider}
    return np.array([values[d] for d in range(len(values))])


def test_without_a_browser_the_sliders_decode_on_the_server_and_the_link_keeps_the_code():
    at = open_page("sliders", sliders_i="123")
    assert f"decodes on the server: {status.NO_BROWSER}" in card(at)
    assert components(at) == {}  # nothing to load into a page
    assert len(at.slider) == 16 and any(c.value.startswith("Decoded on the server") for c in at.caption)

    top = at.slider[0]
    moved = top.max if top.value < (top.min + top.max) / 2 else top.min
    top.set_value(moved).run()
    linked = code_link.code_from_text(at.query_params["sliders_z"], 16)
    np.testing.assert_allclose(linked, slider_values(at), rtol=1e-5)
    assert linked[int(top.label.split(" ")[0][1:])] == moved

    again = open_page("sliders", sliders_i="123", sliders_z=at.query_params["sliders_z"])
    np.testing.assert_allclose(slider_values(again), linked, rtol=1e-5)  # a shared link starts there


def test_with_a_browser_the_sliders_are_the_pages(with_browser):
    at = open_page("sliders", sliders_i="123")
    assert "Sliders, Interpolate's player and the Map's cursor decode **in this page** (onnxruntime-web" in card(at)
    assert not at.slider  # the page draws them
    mounted = components(at)
    sha = decoders.page_decoder(open_model(ROOT / "checkpoints" / MODEL)).sha256
    assert mounted["live-status"]["decoder"]["hash"] == sha  # loads the decoder on any page
    (live,) = [data for key, data in mounted.items() if key.startswith("live-sliders-")]
    assert live["view"] == "sliders" and live["decoder"]["hash"] == sha and live["top"] == 8
    np.testing.assert_allclose(live["values"], at.session_state["sliders_code"])
    np.testing.assert_allclose(live["values"], live["start"])  # the sample's code, clipped to the sliders


def test_where_the_page_cannot_decode_the_server_does_and_says_why(with_browser):
    at = open_page("sliders", status.Reports(runtime_off="WebAssembly is off in this browser"))
    assert "decodes on the server: WebAssembly is off in this browser" in card(at)
    assert components(at) == {}
    assert len(at.slider) == 16
    assert any(c.value == "Decoded on the server: WebAssembly is off in this browser." for c in at.caption)


def test_interpolate_plays_its_path_in_the_page(with_browser):
    at = open_page("interpolate", interpolate_how="spherical (slerp)")
    (player,) = [data for key, data in components(at).items() if key.startswith("live-path-")]
    assert player["view"] == "path" and player["method"] == "slerp" and player["steps"] == 8

    sha = decoders.page_decoder(open_model(ROOT / "checkpoints" / MODEL)).sha256
    failed = status.Reports(failed={sha: "onnxruntime-web could not run this decoder (bad op)"})
    off = open_page("interpolate", failed)
    assert not [key for key in components(off) if key.startswith("live-path")]
    assert any("here it cannot: onnxruntime-web could not run this decoder (bad op)" in c.value for c in off.caption)
