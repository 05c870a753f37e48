"""The WebGL map's Python side, through the whole app with AppTest: what the Map page sends the
component (the arrays it points at are the map's: positions, labels, colourings, codes), the
Plotly map when Plotly is chosen, and the codes pinned on the map reaching Interpolate, Sliders
and Arithmetic. What the page does with them is tests/test_e2e_browser.py's."""
from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from explorer import map_arrays, projection
from explorer.shipped import SHIPPED_DIR
from explorer.ui import handoffs, map_webgl

ROOT = SHIPPED_DIR.parent
TIMEOUT = 240


def app(page: str = "map", **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["ckpt"] = ["mnist-ae"]
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    if page != "map":
        at.switch_page(f"explorer/ui/pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def map_components(at: AppTest) -> list[dict]:
    """The data of every map component on the page."""
    found = []
    for element in at.get("bidi_component"):
        if element.proto.component_name == map_webgl.COMPONENT_NAME:
            found.append(json.loads(element.proto.json))
    return found


def read(url: str) -> tuple[dict, dict]:
    return map_arrays.unpack((map_webgl.MAP_DIR / url).read_bytes())


def test_the_map_page_sends_the_map_as_arrays_the_page_fetches():
    at = app()
    (data,) = map_components(at)
    assert not at.get("plotly_chart") or all("codes" not in c.proto.spec for c in at.get("plotly_chart"))
    assert data["projection"] == "pca" and data["colour"] == "label" and data["count"] == 5000
    base, meta = read(data["base"])
    engine_codes = base["codes"]
    assert engine_codes.shape == (5000, 16) and engine_codes.dtype == np.float32
    names = [c["name"] for c in meta["colourings"]]
    assert names == ["label", "error", "kept"]
    from explorer.data import load_mnist
    labels = load_mnist().y
    np.testing.assert_array_equal(base["colour_label"], labels)
    (pca,) = [p for p in data["projections"] if p["key"] == "pca"]
    positions, projection_meta = read(pca["url"])
    expected = projection.project(engine_codes, "pca").coords
    np.testing.assert_allclose(positions["positions"], expected, rtol=1e-4, atol=1e-4)
    # PCA's inverse in the page is the exact one: mean + x PC1 + y PC2 gives back the codes' plane
    inverse = projection_meta["inverse"]
    mean, axes = np.array(inverse["mean"]), np.array(inverse["components"])
    np.testing.assert_allclose(positions["positions"][:3] @ axes + mean,
                               projection.project(engine_codes, "pca").projection.inverse(expected[:3]), atol=1e-4)
    images = data["images"]
    assert images["shape"] == [28, 28, 1] and images["count"] == 5000 and "{block}" in images["url"]
    assert data["selection"] is None and data["height"] == 620


def test_a_selection_in_the_link_reaches_the_page_and_the_gallery():
    at = app(sel="3,10-12")
    (data,) = map_components(at)
    np.testing.assert_array_equal(map_arrays.indices_from_mask(data["selection"]["mask"], 5000), [3, 10, 11, 12])
    assert any("4 images selected" in m.value for m in at.markdown)
    bad = app(sel="3,9999")
    assert any("The selection in the link was not used: 9999 is outside 0-4999" in w.value for w in bad.warning)


def test_choosing_plotly_draws_the_plotly_map():
    at = app(map_drawer="plotly")
    assert not map_components(at)
    figure = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "codes" in c.proto.spec)
    assert "PCA" in figure["layout"]["title"]["text"]
    assert any("Drawn with Plotly, as chosen" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Draw with WebGL in the page").click().run()
    assert len(map_components(at)) == 1 and not at.exception  # and back, in the same session


def pin_one(at: AppTest, code: np.ndarray, where: str = "PCA (1.00, 2.00)") -> None:
    """What the Map's on_pin callback leaves behind, as a click on the map would."""
    from explorer.ui.engine_cache import engine_for
    from explorer.ui.dataset_cache import dataset_for

    engine, dataset = engine_for(SHIPPED_DIR / "mnist-ae"), dataset_for("mnist")
    pins = at.session_state[handoffs.PINS_KEY] if handoffs.PINS_KEY in at.session_state else []
    at.session_state[handoffs.PINS_KEY] = [*pins, (engine.source.content_hash, dataset.identity,
                                                   handoffs.Pin(code.astype(np.float32), where, 7))]


def test_codes_pinned_on_the_map_reach_interpolate_sliders_and_arithmetic():
    at = app()
    rng = np.random.default_rng(0)
    pin_one(at, rng.normal(size=16))
    pin_one(at, rng.normal(size=16), "UMAP (3.00, -1.00)")
    at.switch_page("explorer/ui/pages/interpolate.py").run()
    next(r for r in at.radio if r.label == "Waypoints from").set_value("pinned").run()
    assert not at.exception, at.exception
    captions = [c for image in at.get("image") for c in image.captions]
    assert any("pinned at PCA (1.00, 2.00)" in c for c in captions) and any("UMAP (3.00, -1.00)" in c for c in captions)
    at.switch_page("explorer/ui/pages/sliders.py").run()
    button = next(b for b in at.button if "code pinned on the Map" in b.label)
    assert "UMAP (3.00, -1.00)" in button.label  # the last pinned
    at.switch_page("explorer/ui/pages/arithmetic.py").run()
    box = next(c for c in at.checkbox if "code pinned on the Map" in c.label)
    box.check().run()
    assert not at.exception, at.exception
    assert any("the pinned code" in m.value for m in at.markdown)
