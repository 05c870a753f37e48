"""The app on colour data: a 64x64 colour model on the shapes dataset and on a folder of colour
images, through the sidebar's dataset and preprocessing choices (AppTest)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.__main__ import main as cli

TIMEOUT = 240
SHAPES = "shapes:400"  # a small draw of the grid: encoding 50,000 images would dominate the test
PAGES = ["interpolate", "sample", "arithmetic", "sliders", "compare", "upload", "anomaly"]


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory) -> str:
    """A tiny conv autoencoder for 3x64x64 images, one epoch on a few shapes."""
    out = tmp_path_factory.mktemp("models") / "shapes-tiny"
    assert cli(["train", "--model", "ae", "--body", "conv", "--channels", "8,16", "--dataset", "shapes:300",
                "--epochs", "1", "--latent-dim", "4", "--out", str(out), "--threads", "1"]) == 0
    return str(out)


@pytest.fixture
def allowed(colour_model, tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.setenv("LATENT_EXPLORER_ROOTS", f"{Path(colour_model).parent}:{tmp_path}")
    return tmp_path


@pytest.fixture
def app(open_app):
    """``app(model, page="map", **query_params)``: the app on ``page`` with only the model at the
    typed path ``model`` picked.
    These check the Plotly map (the fallback); tests/test_map_webgl.py the WebGL one."""
    return lambda model, page="map", **params: open_app(page, TIMEOUT, ckpt=[], ckpt_path=model, map_drawer="plotly",
                                                        **params)


def texts(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("markdown", "caption", "error", "warning", "info") for e in at.get(kind))


def map_figure(at: AppTest) -> dict:
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return next(f for f in figures if "codes" in f["layout"].get("title", {}).get("text", ""))


def test_map_coloured_by_any_factor(app, colour_model, allowed):
    at = app(colour_model, data="folder or .npz path", data_path=SHAPES)
    colour = at.radio(key="map_colour")
    assert colour.options[0] == "label" and "reconstruction error" in colour.options
    assert colour.options[-6:] == ["shape", "colour", "scale", "rotation", "x", "y"]
    colour.set_value("colour").run()
    traces = [t for t in map_figure(at)["data"] if t.get("name") not in ("selected",)]
    assert [t["name"] for t in traces] == ["red", "yellow", "green", "cyan", "blue", "magenta"]
    assert "<br>rotation %{customdata[4]}" in traces[0]["hovertemplate"]
    assert [t["marker"]["color"] for t in traces][:2] == ["red", "yellow"]  # each hue in its own colour
    at.radio(key="map_colour").set_value("x").run()
    assert [t["name"] for t in map_figure(at)["data"]] == [str(p) for p in range(14, 51, 4)]
    assert not at.exception
    linked = app(colour_model, data="folder or .npz path", data_path=SHAPES, map_colour="scale")  # from a link
    assert [t["name"] for t in map_figure(linked)["data"]][:2] == ["13 px", "16 px"]


def test_selection_gallery_shows_factors(app, colour_model, allowed):
    at = app(colour_model, data="folder or .npz path", data_path=SHAPES)
    at.session_state["selection"] = [0, 5]
    at.session_state["selection_dataset"] = at.session_state["context"].dataset.identity
    at.run()
    shown = next(image.captions for image in at.get("image") if len(image.captions) == 2)
    dataset = at.session_state["context"].dataset
    assert shown[0].startswith("#0 · ") and shown[0].endswith(dataset.factor_text(0))
    assert "rotation step" in shown[1] and dataset.factor_text(5) in shown[1]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_draws_the_colour_model(app, colour_model, allowed, page):
    at = app(colour_model, page, data="folder or .npz path", data_path=SHAPES)
    assert not at.error, [e.value for e in at.error]


def colour_folder(root) -> None:
    rng = np.random.default_rng(0)
    for name in ("warm", "cold"):
        (root / name).mkdir()
        for i in range(15):
            hue = (255, 16 * i, 0) if name == "warm" else (0, 16 * i, 255)
            picture = np.zeros((50, 80, 3), np.uint8) + np.array(hue, np.uint8)
            picture[rng.integers(0, 50, 30), rng.integers(0, 80, 30)] = 255
            Image.fromarray(picture).save(root / name / f"{i}.png")


def test_a_colour_folder_is_read_at_the_models_shape_plainly(app, colour_model, allowed):
    colour_folder(allowed)
    at = app(colour_model, data="folder or .npz path", data_path=str(allowed))
    assert "Files are read as 3×64×64, plain (colour kept" in texts(at)
    assert at.selectbox(key="prep").value == "auto"
    dataset = at.session_state["context"].dataset
    assert dataset.input_shape == [3, 64, 64] and dataset.preprocessing == "plain"
    assert dataset.classes == ["cold", "warm"]
    at.selectbox(key="prep").set_value("digit").run()
    assert "digit preprocessing makes 1-channel images" in " ".join(e.value for e in at.sidebar.error)
    # a link names the preprocessing
    linked = app(colour_model, data="folder or .npz path", data_path=str(allowed), prep="plain")
    assert linked.selectbox(key="prep").value == "plain"


def test_a_colour_upload_keeps_its_colour(app, colour_model, allowed):
    import io

    picture = np.zeros((60, 90, 3), np.uint8)
    picture[:, :] = (0, 0, 255)
    picture[:, 15:75] = (255, 200, 0)  # the centre square is all amber
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    at = app(colour_model, "upload", data="folder or .npz path", data_path=SHAPES)
    assert not at.toggle  # no digit preprocessing offered to a colour model
    at.file_uploader(key="image_upload").set_value(("amber.png", buf.getvalue(), "image/png")).run()
    # the only red box allowed is the verdict (a flat amber square may well be unlike sprites on black)
    assert not at.exception and all(e.value.startswith("**Unlike the training data**") for e in at.error), \
        [e.value for e in at.error]
    image = at.session_state["upload_image"]
    assert image.shape == (3, 64, 64)
    assert np.allclose(image, (np.array([255, 200, 0]) / 255)[:, None, None], atol=0.02)
