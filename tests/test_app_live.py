"""The Sliders and Interpolate pages in Streamlit's simulated browser, where no JavaScript runs:
the server path stays whole there (sliders decoded on the server, the code kept in the link),
the model card says which way the session decodes, and once the page has reported what it can
do (simulated here as the page's component would record it), the pages hand their sliders and
their player to the page."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from explorer import slider_bounds
from explorer.frontend import decoders, status
from explorer.sources import open_model

ROOT = Path(__file__).resolve().parents[1]
MODEL = "mnist-ae"


def open_page(page: str, reports: status.Reports | None = None, **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(ckpt=MODEL, data="mnist", **params)
    if reports is not None:
        at.session_state[status.REPORTS_KEY] = reports
    at.switch_page(f"explorer/ui/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def card(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def components(at: AppTest) -> dict[str, dict]:
    """The explorer.live instances on the page: key -> the data sent (the JSON part)."""
    found = {}
    for element in at.get("bidi_component"):
        proto = element.proto
        assert proto.component_name == "explorer.live"
        text = proto.json if proto.WhichOneof("data") == "json" else proto.mixed.json
        found[element.key] = json.loads(text)
    return found


def page_sha() -> str:
    return decoders.page_decoder(open_model(ROOT / "checkpoints" / MODEL)).sha256


def test_without_the_page_the_sliders_decode_on_the_server_and_the_link_keeps_the_code():
    at = open_page("sliders", sliders_i="123")
    assert "decoding in this page: loading the decoder…" in card(at)
    probe = components(at)
    assert list(probe) == ["live-status"] and probe["live-status"]["decoder"]["hash"] == page_sha()
    assert len(at.slider) == 16 and any("Decoded on the server until" in c.value for c in at.caption)

    top = at.slider[0]
    moved = top.max if top.value < (top.min + top.max) / 2 else top.min
    top.set_value(moved).run()
    linked = slider_bounds.code_from_text(at.query_params["sliders_z"], 16)
    dim = int(top.label.split(" ")[0][1:])
    assert linked[dim] == moved

    again = open_page("sliders", sliders_i="123", sliders_z=at.query_params["sliders_z"])
    values = {int(s.label.split(" ")[0][1:]): s.value for s in again.slider}
    np.testing.assert_allclose([values[d] for d in range(16)], linked, rtol=1e-5)


def test_once_the_page_decodes_the_sliders_are_the_pages():
    reports = status.Reports(runtime="onnxruntime-web 1.31.1", decoders={page_sha(): None})
    at = open_page("sliders", reports, sliders_i="123")
    assert "decodes **in this page** as you drag (onnxruntime-web 1.31.1" in card(at)
    assert not at.slider  # the page draws them
    live = components(at)["live-sliders"]
    assert live["view"] == "sliders" and live["known"] == "ok" and live["top"] == 8
    code = open_page("sliders", sliders_i="123").session_state["sliders_code"]
    np.testing.assert_allclose(live["values"], code)  # the sample's code, as the server path starts


def test_where_the_page_cannot_decode_the_server_does_and_says_why():
    reports = status.Reports(runtime_off="WebAssembly is off in this browser")
    at = open_page("sliders", reports)
    assert "decodes on the server: WebAssembly is off in this browser" in card(at)
    assert components(at) == {}  # nothing is loaded into a page that cannot run it
    assert len(at.slider) == 16
    assert any(c.value == "Decoded on the server: WebAssembly is off in this browser." for c in at.caption)


def test_interpolate_plays_its_path_in_the_page_once_the_page_decodes():
    waiting = open_page("interpolate")
    assert any("waiting for this page to load the decoder" in c.value for c in waiting.caption)

    reports = status.Reports(runtime="onnxruntime-web 1.31.1", decoders={page_sha(): None})
    at = open_page("interpolate", reports, interpolate_how="spherical (slerp)")
    player = components(at)["live-path"]
    assert player["view"] == "path" and player["method"] == "slerp" and player["steps"] == 8

    off = open_page("interpolate", status.Reports(runtime_off="WebAssembly is off in this browser"))
    assert any("it cannot: WebAssembly is off in this browser" in c.value for c in off.caption)
