"""Interpolate: a path through two or more codes, straight (linear) or along the sphere (slerp),
decoded step by step and drawn on the map. Where the browser runs the decoder (explorer/frontend),
the path also plays as an animation decoded in the page."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import latent
from explorer.frontend import path as live_path, status
from explorer.indices import index_caption, parse_indices
from explorer.ui import dataset_cache, display, handoffs, map_jobs, map_plotly, map_webgl, session

SOURCES = {"typed": "dataset indices", "selection": "the Map's selection", "pinned": "codes pinned on the Map"}
METHODS = {"linear": "linear", "slerp": "spherical (slerp)"}
MAX_POINTS = 8  # more waypoints than this make a strip nobody can read

engine, dataset = session.page_start(
    "Interpolate",
    "Walk from code to code, decode every step, and see where the walk goes on the map. Linear walks "
    "the straight line; slerp follows the sphere, which keeps a VAE's codes at the norm its prior expects.",
)
codes = dataset_cache.dataset_codes(engine, dataset)
size = len(dataset.x)
upload = handoffs.uploaded_image()
upload_code = handoffs.upload_code(engine)

row = st.columns([2, 3])
source = row[0].radio("Waypoints from", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="interpolate_pts",
                      bind="query-params")
use_upload = upload_code is not None and st.checkbox(
    f"Start at the uploaded image ({upload[1]})", help="The image from the Upload page becomes the first waypoint.",
    key="interpolate_up", bind="query-params")
needed = 1 if use_upload else 2
if source == "typed":
    n_test = len(dataset.test_idx)
    default = f"{dataset.test_idx[0]}, {dataset.test_idx[n_test // 2]}"
    typed = row[1].text_input("Dataset indices, in order", value=default, key="interpolate_idx", bind="query-params",
                              help="Two or more, separated by commas: the path visits them in this order.")
    try:
        indices = parse_indices(typed, size, at_least=needed)
    except ValueError as e:
        st.error(f"Waypoints: {e}.")
        st.stop()
elif source == "pinned":
    pins = handoffs.get_pins(engine, dataset)[-MAX_POINTS:]
    if len(pins) < needed:
        st.info(f"{len(pins)} code{'s' if len(pins) != 1 else ''} pinned on the Map; the path needs {needed} or more. "
                "Click the Map where you want the path to pass (each click pins the code under the cursor).")
        st.stop()
    indices = []
else:
    indices = handoffs.get_selection(dataset)
    if len(indices) < needed:
        st.info(f"The Map's selection holds {len(indices)} image{'s' if len(indices) != 1 else ''}; the path needs "
                f"{needed} or more. Select points on the Map (click, box or lasso) and come back, or type indices.")
        st.stop()
if len(indices) + use_upload > MAX_POINTS:
    st.caption(f"{len(indices) + use_upload} waypoints given; the path goes through the first {MAX_POINTS}.")
    indices = indices[:MAX_POINTS - use_upload]

settings = st.columns([2, 3])
method = settings[0].radio("Method", list(METHODS), format_func=METHODS.get, horizontal=True, key="interpolate_how",
                           bind="query-params")
steps = settings[1].slider("Steps per leg", 2, 24, 8, key="interpolate_steps", bind="query-params",
                           help="Images between one waypoint and the next, the first included.")

waypoints = codes.codes[indices]
originals = dataset.x[indices]
captions = [index_caption(dataset, i) for i in indices]
if source == "pinned":  # codes, not images: the waypoints shown are their decodings
    waypoints = np.stack([pin.code for pin in pins]).astype(codes.codes.dtype)
    originals = engine.decode(waypoints)
    captions = [f"pinned at {pin.where}" for pin in pins]
if use_upload:
    waypoints = np.concatenate([upload_code[None], waypoints])
    originals = np.concatenate([upload[0][None], originals])
    captions = [f"upload: {upload[1]}"] + captions
try:
    walk = latent.path(waypoints, steps, method)
except ValueError as e:
    st.error(f"Cannot make the path: {e}.")
    st.stop()
decoded = engine.decode(walk)

st.markdown("**Waypoints**")
display.show_gallery(originals, [f"{k + 1}. {c}" for k, c in enumerate(captions)])
legs = len(waypoints) - 1
# two waypoints: one strip; more: one row per leg, so every row starts at a waypoint
columns = len(decoded) if legs == 1 else steps
display.show_grid(decoded, columns, key="path", filename=f"interpolation-{method}-{engine.source.name}.png",
                 caption=f"{METHODS[method].capitalize()} path, {len(decoded)} images"
                         + ("" if legs == 1 else f": one row per leg, the last image is waypoint {legs + 1}"))

decoding = status.decoding(engine)
if decoding.in_page:
    st.markdown("**Play the path**")
    live_path.play_path(decoding, waypoints, method, steps)
else:
    st.caption(f"Playing the path as an animation runs in the page; here it cannot: {decoding.reason}.")

st.subheader("The path on the map")
state = map_jobs.current_map(engine, dataset, codes, map_jobs.last_choice())
map_jobs.explain(state)
try:
    walk_xy = state.projection.transform(walk)
except ValueError as e:
    st.warning(f"The path cannot be placed on this map: {e}")
    st.stop()
colour = "label" if dataset.y is not None and dataset.classes else "error"
why_not_webgl = map_webgl.unavailable()
if why_not_webgl:
    figure = map_plotly.scatter(state, dataset, codes, colour, height=560, webgl="no WebGL" not in why_not_webgl)
    add = figure.add_scattergl if "no WebGL" not in why_not_webgl else figure.add_scatter
    add(x=walk_xy[:, 0], y=walk_xy[:, 1], mode="lines+markers", name="path", hoverinfo="skip",
        line=dict(color="black", width=2), marker=dict(size=5, color="black"))
    stops = walk_xy[::steps]
    add(x=stops[:, 0], y=stops[:, 1], mode="markers+text", name="waypoints",
        text=[str(k + 1) for k in range(len(stops))], textposition="top center",
        textfont=dict(size=16, color="black"), hovertext=captions, hoverinfo="text",
        marker=dict(size=13, color="white", line=dict(width=2, color="black")))
    figure.update_layout(dragmode="zoom")
    st.plotly_chart(figure, config={"displaylogo": False, "plotGlPixelRatio": 1})
else:  # the path placed on every projection ready to draw; the page switches between them
    map_webgl.draw(engine, dataset, codes, state, key="interpolate-map", colour=colour, height=560,
                   marks=map_webgl.Marks(path=walk, stops=list(range(0, len(walk), steps))))
st.caption(f"The map is the one chosen on the Map page ({state.projection.label}); every step of the path is "
           "placed on it with the map's own transform. Waypoints are numbered in path order.")
