"""A Streamlit page that draws the WebGL map of N random points (default 1,000,000) through the
map's own Python entry (explorer.ui.map_webgl.show with plain arrays: no model, no dataset), for
``python -m benchmarks.bench_browser --map``. It writes when Python received a selection, so the
benchmark times a lasso from mouse-up to the indices in Python.

    streamlit run benchmarks/map_million_app.py -- --points 1000000
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import streamlit as st

from explorer import map_arrays, projection
from explorer.ui import map_webgl

parser = argparse.ArgumentParser()
parser.add_argument("--points", type=int, default=1_000_000)
parser.add_argument("--dim", type=int, default=16)
args, _ = parser.parse_known_args(sys.argv[1:])


@st.cache_resource
def random_map(n: int, dim: int) -> dict:
    """Random codes in 10 clusters, their PCA (exact, with its inverse) and a second layout."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    centres = rng.normal(0, 3, (10, dim)).astype(np.float32)
    codes = centres[labels] + rng.normal(0, 1, (n, dim)).astype(np.float32)
    pca = projection.make_projection("pca")
    pca.fit(codes[:: max(1, n // 50_000)])  # the axes from a sample; every point placed by them
    coords = pca.transform(codes)
    pca.attach(codes, coords)
    other = projection.make_projection("latent")  # a second layout: the first two code values
    other.attach(codes[:, :2], codes[:, :2].astype(np.float64))
    maps = {"pca": projection.ProjectionResult(coords, pca, False, 0.0),
            "latent": projection.ProjectionResult(other.coords, other, False, 0.0)}
    colourings = [map_arrays.Colouring("label", "cluster", labels, [str(k) for k in range(10)]),
                  map_arrays.Colouring("error", "a random value", rng.gamma(2.0, 0.01, n), digits=4)]
    started = time.perf_counter()
    data = map_webgl.map_data(f"random-{n}-{dim}", codes, colourings, maps)
    return {**data, "count": n, "pack_s": time.perf_counter() - started}


st.set_page_config(page_title="Map benchmark", layout="wide")
data = random_map(args.points, args.dim)
received = st.session_state.setdefault("received", {})


def on_selection(indices: np.ndarray) -> None:
    received.update(count=len(indices), at=time.time())


map_webgl.show({**data, "projection": "pca", "colour": "label", "marks": {}, "selection": None, "decoder": None,
                "images": None, "height": 700}, key="million", on_selection=on_selection)
st.markdown(f"Packed in {data['pack_s']:.2f} s.")
if received:
    st.markdown(f"Python received **{received['count']:,} selected** at `{received['at']:.3f}`")
