"""The in-page front end's Python side, and its pure ES modules run under Node: which decoder a
page is offered (and why not), how a session decides between the page and the server, what the
page may send back, and that the page walks Interpolate's path and reads a decoder's output
exactly as the server does. The browser itself: tests/test_live_browser.py."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

from explorer import code_link, frontend, latent, slider_bounds
from explorer.frontend import decoders, path as live_path, sliders as live_sliders, status
from explorer.sources import open_model
from explorer.sources.export import cached_onnx
from tests.test_sources_onnx import tiny_pair

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "explorer" / "frontend"


@pytest.fixture
def served(tmp_path, monkeypatch) -> Path:
    """Decoders served from a scratch folder, and no offer remembered from another test."""
    folder = tmp_path / "decoders"
    monkeypatch.setattr(decoders, "SERVED_DIR", folder)
    monkeypatch.setattr(decoders, "_offers", {})
    return folder


# --- the decoder offered to the page ------------------------------------------------------------
def test_a_native_model_is_offered_its_exported_decoder_named_by_its_bytes(served):
    model = open_model(ROOT / "checkpoints" / "mnist-vae")
    offer = decoders.page_decoder(model)
    assert isinstance(offer, decoders.PageDecoder)
    raw = (cached_onnx(model) / "decoder.onnx").read_bytes()
    assert offer.sha256 == hashlib.sha256(raw).hexdigest() and offer.size == len(raw)
    assert (served / f"{offer.sha256}.onnx").read_bytes() == raw
    assert offer.spec() == {"hash": offer.sha256, "url": f"decoders/{offer.sha256}.onnx", "bytes": len(raw),
                            "latent_dim": 16, "shape": [1, 28, 28], "layout": "NCHW", "pixel_range": [0.0, 1.0]}
    (served / f"{offer.sha256}.onnx").unlink()  # pruned by another server sharing the folder
    assert decoders.page_decoder(model) == offer and (served / f"{offer.sha256}.onnx").is_file()


def test_an_onnx_model_is_offered_its_own_decoder_with_its_layout_and_range(served, tmp_path):
    folder = tiny_pair(tmp_path / "m", layout="NHWC")
    (folder / "explorer.json").write_text(json.dumps({"layout": "NHWC", "pixel_range": [-1, 1]}))
    offer = decoders.page_decoder(open_model(folder))
    assert (served / f"{offer.sha256}.onnx").read_bytes() == (folder / "decoder.onnx").read_bytes()
    assert (offer.shape, offer.layout, offer.pixel_range, offer.latent_dim) == ((1, 4, 4), "NHWC", (-1.0, 1.0), 2)


def test_decoders_the_page_cannot_take_say_why(served, tmp_path, monkeypatch):
    folder = tiny_pair(tmp_path / "external")
    proto = onnx.load(folder / "decoder.onnx")
    onnx.save(proto, folder / "decoder.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=100)  # the weights, not the shape
    offer = decoders.page_decoder(open_model(folder))
    assert isinstance(offer, decoders.NotInPage) and "separate files" in offer.reason

    monkeypatch.setattr(decoders, "MAX_PAGE_DECODER_BYTES", 64)
    offer = decoders.page_decoder(open_model(tiny_pair(tmp_path / "large")))
    assert isinstance(offer, decoders.NotInPage) and "sent to a page" in offer.reason

    def no_export(model):
        raise decoders.CheckpointError("could not export to ONNX (torchscript: boom)")

    monkeypatch.setattr(decoders, "cached_onnx", no_export)
    offer = decoders.page_decoder(open_model(ROOT / "checkpoints" / "mnist-ae"))
    assert isinstance(offer, decoders.NotInPage) and "could not be exported" in offer.reason and "boom" in offer.reason
    assert not list(served.glob("*.onnx")) if served.exists() else True


def test_the_served_folder_stays_bounded(served, monkeypatch):
    monkeypatch.setattr(decoders, "KEEP_SERVED", 3)
    for k in range(5):
        decoders._serve(f"{k:064x}", b"graph %d" % k)
    assert sorted(f.name for f in served.glob("*.onnx")) == [f"{k:064x}.onnx" for k in (2, 3, 4)]


# --- page or server ----------------------------------------------------------------------------------
OFFER = decoders.PageDecoder("a" * 64, 1000, 16, (1, 28, 28), "NCHW", (0.0, 1.0))


def test_a_session_with_a_browser_decodes_in_the_page_unless_the_page_said_it_cannot():
    choice = status.decide(OFFER, status.Reports())
    assert choice.in_page and choice.offer == OFFER
    assert f"in this page** (onnxruntime-web {frontend.ort_version()}, WebAssembly)" in choice.card_line()

    reports = status.Reports()
    assert status.record(reports, {"hash": "a" * 64, "ok": False, "runtime_ok": True, "reason": "unsupported op"})
    choice = status.decide(OFFER, reports)
    assert not choice.in_page and choice.card_line() == "decodes on the server: unsupported op"
    assert status.decide(decoders.PageDecoder("b" * 64, 1, 16, (1, 28, 28), "NCHW", (0.0, 1.0)), reports).in_page


def test_the_server_decodes_where_the_page_cannot_and_the_card_says_why():
    off = status.Reports()
    status.record(off, {"hash": "b" * 64, "ok": False, "runtime_ok": False, "reason": "WebAssembly is off"})
    assert status.decide(OFFER, off).reason == "WebAssembly is off"  # for every decoder of the session

    not_exported = status.decide(decoders.NotInPage("the model could not be exported"), status.Reports())
    assert not not_exported.in_page and not_exported.offer is None
    missing = status.decide(OFFER, status.Reports(), "run `npm ci` in explorer/frontend")
    assert not missing.in_page and "npm ci" in missing.card_line()
    no_browser = status.decide(OFFER, status.Reports(), browser=False)  # Streamlit's AppTest
    assert not no_browser.in_page and no_browser.reason == status.NO_BROWSER


@pytest.mark.parametrize("report", [None, "ok", [], {"ok": False}, {"hash": "short", "ok": False}, {"hash": 5},
                                    {"hash": "a" * 64, "ok": True}, {"hash": "a" * 64}])
def test_what_the_page_sends_about_its_decoder_is_checked(report):
    reports = status.Reports()
    assert not status.record(reports, report)
    assert reports == status.Reports()


def test_a_long_reason_from_the_page_is_cut():
    reports = status.Reports()
    status.record(reports, {"hash": "c" * 64, "ok": False, "reason": "x" * 10_000})
    assert len(reports.failed["c" * 64]) == status.MAX_REASON


def test_streamlit_finds_the_component_in_the_installed_package():
    """pip install -e . (requirements.txt) is what makes Streamlit serve explorer/frontend."""
    from streamlit.components.v2.manifest_scanner import scan_component_manifests

    found = {manifest.name: (manifest, root) for manifest, root in scan_component_manifests()}
    manifest, root = found["explorer"]
    components = {f"{manifest.name}.{c.name}": c for c in manifest.components}  # the map's is beside it
    component = components[frontend.COMPONENT_NAME]
    assert component.resolve_asset_root(root) == FRONTEND
    assert all((frontend.ORT_DIST / name).is_file() for name in frontend.ORT_FILES)  # npm ci has run
    pinned = json.loads((FRONTEND / "package.json").read_text())["dependencies"]["onnxruntime-web"]
    assert frontend.ort_version() == pinned


def test_without_npm_ci_the_front_end_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(frontend, "ORT_DIST", tmp_path / "nothing")
    assert "npm ci" in frontend.missing()


# --- what goes to the page and comes back ----------------------------------------------------------------
def test_slider_rows_follow_the_order_shown():
    bounds = np.array([[-3, 3, 0.05], [-1, 1, 0.02], [0, 10, 0.1]])
    rows = live_sliders.slider_rows(bounds, np.array([2, 0, 1]), ["a", "b", "c"])
    assert list(rows["dim"]) == [2, 0, 1] and list(rows["label"]) == ["z2 · c", "z0 · a", "z1 · b"]
    assert list(rows["decimals"]) == [slider_bounds.slider_decimals(s) for s in (0.1, 0.05, 0.02)]
    assert rows["low"].dtype == np.float64 and rows["dim"].dtype == np.int32  # typed arrays in the page


@pytest.mark.parametrize("state", [None, {}, {"values": None}, {"values": {"z": [1, 2]}},
                                   {"values": {"z": [1, 2, "3"]}}, {"values": {"z": [1, True, 3]}},
                                   {"values": {"z": [1, float("nan"), 3]}}, {"values": {"z": "1,2,3"}}])
def test_released_values_that_are_not_a_code_are_ignored(state):
    assert live_sliders.released_values(state, np.array([[-1, 1, 0.1]] * 3)) is None


def test_released_values_are_kept_within_the_slider_bounds():
    code = live_sliders.released_values({"values": {"z": [0.5, -7, 7], "n": 3}}, np.array([[-1, 1, 0.1]] * 3))
    assert code.tolist() == [0.5, -1, 1]


def test_a_code_round_trips_through_the_link():
    code = np.array([0.123456789, -1.5, 3e-7])
    back = code_link.code_from_text(code_link.code_text(code), 3)
    np.testing.assert_allclose(back, code, rtol=1e-5)
    assert code_link.code_from_text("1,2", 3) is None and code_link.code_from_text("1,x,3", 3) is None
    assert code_link.code_from_text("1,inf,3", 3) is None
    assert code_link.code_text(np.zeros(code_link.MAX_LINKED_DIMS + 1)) is None


def test_waypoints_go_to_the_page_as_one_column_per_dimension():
    table = live_path.waypoint_table(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert list(table.columns) == ["z0", "z1", "z2"] and table.dtypes.unique().tolist() == [np.float64]


# --- the page's own arithmetic, under Node ----------------------------------------------------------------
def node(script: str) -> object:
    """Run an ES module script with Node from explorer/frontend; what it prints, as JSON."""
    binary = shutil.which("node")
    assert binary, "Node is needed (the README's commands run npm ci, which needs it too)"
    done = subprocess.run([binary, "--input-type=module", "-e", script], cwd=FRONTEND, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


PATHS = {
    "apart": [[0.5, -1.0, 2.0], [-1.5, 0.3, 0.7], [0.2, 0.2, -2.0]],
    "opposite": [[1.0, 2.0, -0.5], [-1.0, -2.0, 0.5]],
    "through zero": [[0.0, 0.0, 0.0], [1.0, -2.0, 3.0]],
    "parallel": [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]],
}


@pytest.mark.parametrize("name", PATHS)
@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_the_page_walks_a_path_as_the_server_does(name, method):
    steps = 5
    waypoints = PATHS[name]
    want = latent.path(np.array(waypoints), steps, method)
    got = node(f"""import {{ pointOnPath }} from "./path.js";
        const w = {json.dumps(waypoints)}.map((p) => Float64Array.from(p));
        const out = [];
        for (let k = 0; k <= {(len(waypoints) - 1) * steps}; k++) out.push(Array.from(pointOnPath(w, k / {steps}, "{method}")));
        console.log(JSON.stringify(out));""")
    np.testing.assert_allclose(np.array(got), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("layout, pixel_range", [("NCHW", (0, 1)), ("NHWC", (-1, 1)), ("NCHW", (0, 255)), ("NHWC", (0, 1))])
def test_the_page_reads_a_decoder_output_as_the_server_does(layout, pixel_range):
    shape = (3, 2, 4)
    output = np.random.default_rng(0).uniform(*pixel_range, size=(1, 2, 4, 3) if layout == "NHWC" else (1, *shape))
    spec = {"shape": list(shape), "layout": layout, "pixel_range": list(pixel_range)}
    got = node(f"""import {{ toDisplay }} from "./decoder.js";
        console.log(JSON.stringify(Array.from(toDisplay(Float32Array.from({json.dumps(output.ravel().tolist())}),
                                                        {json.dumps(spec)}))));""")
    planar = np.transpose(output[0], (2, 0, 1)) if layout == "NHWC" else output[0]  # as the server's runner reads it
    want = (planar - pixel_range[0]) / (pixel_range[1] - pixel_range[0])
    np.testing.assert_allclose(np.array(got).reshape(shape), want, atol=1e-5)
