"""Issue 12's views through the whole app (AppTest): Compare's representation-quality and
latent-size views, and the Map's fidelity lines and "neighbourhood kept" colouring."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest


TIMEOUT = 240  # seconds per script run: encoding and measuring 5,000 images on two busy cores


@pytest.fixture
def app(open_app):
    """``app(page, ckpt, **query_params)``: the app on ``page`` with the checkpoints ``ckpt`` picked."""
    return lambda page, ckpt, **params: open_app(page, TIMEOUT, ckpt=ckpt, **params)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def texts(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("markdown", "caption", "info", "warning") for e in at.get(kind))


def values(data) -> np.ndarray:
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data)


def test_compare_representation_view_has_a_row_per_model_pca_and_pixels(app):
    at = app("compare", ["mnist-ae", "mnist-vae-2d"], compare_view="Representation quality")
    table = at.dataframe[0].value
    assert list(table["representation"]) == ["mnist-ae", "mnist-vae-2d", "PCA (k=2)", "PCA (k=16)", "raw pixels"]
    scores = table.drop(columns=["representation", "code size"]).to_numpy(dtype=float)
    assert ((scores >= -1) & (scores <= 1)).all() and scores[:, 0].min() > 0.3  # 5-NN well above chance
    (chart,) = [c for c in charts(at) if "Representation" in c["layout"]["title"]["text"]]
    assert {trace["name"] for trace in chart["data"]} == set(table["representation"])
    assert chart["layout"]["barmode"] == "group"


def test_compare_latent_size_view_plots_the_sweep_and_reconstructs_at_every_size(app):
    at = app("compare", ["mnist-ae"], compare_view="Latent size")
    (chart,) = [c for c in charts(at) if "latent size" in c["layout"]["title"]["text"]]
    names = [trace["name"] for trace in chart["data"]]
    assert {"MLP autoencoder", "linear autoencoder", "PCA", "mnist-ae"} <= set(names)
    assert chart["layout"]["xaxis"]["type"] == "log"
    assert any(trace.get("text", [""])[0].startswith("knee") for trace in chart["data"])
    picked = next(trace for trace in chart["data"] if trace["name"] == "mnist-ae")
    assert list(values(picked["x"])) == [16]
    (grid,) = [image for image in at.get("image") if any("latent size 2 (MSE" in c for c in image.captions)]
    assert "MLP autoencoder" in grid.captions[0]
    next(r for r in at.radio if r.label == "Reconstructions by").set_value("linear_ae").run()
    assert not at.exception
    assert any("linear autoencoder at latent size" in c for image in at.get("image") for c in image.captions)


def test_compare_latent_size_view_needs_the_sweeps_dataset(app):
    at = app("compare", ["mnist-ae"], compare_view="Latent size", data="digits")
    assert "trained on mnist" in texts(at)


def test_map_shows_its_fidelity_and_colours_by_neighbourhood_kept(app):
    at = app("map", ["mnist-ae"])
    text = texts(at)
    for line in ("Trustworthiness", "Continuity", "10-NN recall"):
        assert line in text
    next(r for r in at.radio if r.label == "Colour by").set_value("kept").run()
    assert not at.exception
    figure = next(c for c in charts(at) if "codes" in c["layout"].get("title", {}).get("text", ""))
    kept = values(figure["data"][0]["marker"]["color"])
    assert len(kept) == 5000 and ((kept >= 0) & (kept <= 1)).all() and 0 < kept.mean() < 1
    assert figure["data"][0]["marker"]["colorbar"]["title"]["text"] == "10-NN kept"
