"""Sliders: one slider per latent dimension, most important first, starting at a dataset image's
code; the decoded image follows the sliders. Below, a traversal grid of the top dimensions.
Where the dataset has ground-truth factors, each dimension is named by the factor it carries
most information about, and the dimension x factor information matrix is drawn beside the grid.

Where the browser runs the model's decoder (explorer/frontend), the sliders are the page's own:
every step of a drag is decoded and drawn there, and this script hears the values on release.
Elsewhere (Streamlit's AppTest, WebAssembly off, a model that does not export) they are
Streamlit sliders decoded on the server. Both keep the code in the session and in the link."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer import code_link, disentangle, latent
from explorer.frontend import sliders as live, status
from explorer.indices import index_caption
from explorer.slider_bounds import slider_bounds, slider_decimals, slider_start
from explorer.ui import dataset_cache, display, handoffs, session

MODES = {"prior": "prior ±3σ", "percentile": "1st–99th percentile of the codes", "minmax": "min–max of the codes"}
TOP_SLIDERS = 8  # shown at once; the rest wait in an expander
MAX_ROWS = 16
ORIGIN_KEY = "sliders_origin"  # what the sliders were last set from
CODE_KEY = "sliders_code"  # the code the sliders hold, whichever path draws them
REVISION_KEY = "sliders_revision"  # counts the times the server set the code (the page then takes it)
LINK_PARAM = "sliders_z"  # the code in the link


def slider_key(dim: int) -> str:
    return f"slider-z{dim}"


def set_sliders(values: np.ndarray) -> None:
    for dim, value in enumerate(values):
        st.session_state[slider_key(dim)] = float(value)


def hold(values: np.ndarray) -> None:
    """The code the sliders hold now: kept for this session and written into the link."""
    values = np.asarray(values, dtype=np.float64)
    if not np.array_equal(values, st.session_state.get(CODE_KEY)):
        st.session_state[CODE_KEY] = values
        text = code_link.code_text(values)
        if text is not None:
            st.query_params[LINK_PARAM] = text


def set_code(values: np.ndarray) -> None:
    """The server sets the sliders (a new sample, Reset, the link): both paths take the values."""
    set_sliders(values)
    hold(values)
    st.session_state[REVISION_KEY] = st.session_state.get(REVISION_KEY, 0) + 1


@st.cache_data(show_spinner="Measuring what each dimension knows about each factor…", max_entries=16)
def factor_share(content_hash: str, dataset_identity: str, _codes: np.ndarray, _factors: np.ndarray) -> np.ndarray:
    return disentangle.factor_share(_codes, _factors)


def share_heatmap(share: np.ndarray, factor_names: list[str], dims: np.ndarray) -> go.Figure:
    """The traversal's dimensions (rows, in its order) x factors, coloured by the share of each
    factor's entropy the dimension carries."""
    figure = go.Figure(go.Heatmap(z=share[dims], x=factor_names, y=[f"z{d}" for d in dims], zmin=0, zmax=1,
                                  colorscale="Blues", text=np.round(share[dims], 2), texttemplate="%{text}",
                                  colorbar={"title": "MI ÷ H"}))
    figure.update_layout(yaxis={"autorange": "reversed"}, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         height=60 + 36 * len(dims))
    return figure


@st.fragment
def explore(engine, image: np.ndarray, caption: str, start: np.ndarray, bounds: np.ndarray, order: np.ndarray,
            labels: list[str]) -> None:
    """Sliders and the decoded image: moving a slider reruns only this part of the page."""
    decoding = status.decoding(engine)
    if decoding.in_page:
        live.live_sliders(decoding, live.slider_rows(bounds, order, labels), st.session_state[CODE_KEY], start,
                          st.session_state.get(REVISION_KEY, 0), bounds, on_release=hold)
        display.show_image(image, caption=f"The sample, {caption}", min_side=112)
        return
    values = np.empty(len(bounds))

    def slider(dim: int) -> None:
        low, high, step = bounds[dim]
        values[dim] = st.slider(f"z{dim} · {labels[dim]}", float(low), float(high), step=float(step),
                                format=f"%.{slider_decimals(step)}f", key=slider_key(dim))

    left, right = st.columns([3, 2])
    with left:
        for dim in order[:TOP_SLIDERS]:
            slider(int(dim))
        if len(order) > TOP_SLIDERS:
            with st.expander(f"The other {len(order) - TOP_SLIDERS} dimensions, less important"):
                for dim in order[TOP_SLIDERS:]:
                    slider(int(dim))
    hold(values)
    with right:
        decoded = engine.decode_coalesced(values[None])[0]
        display.show_image(decoded, caption="Decoded from the sliders", min_side=280)
        st.caption(f"Decoded on the server: {decoding.reason}.")
        st.button("Reset to the sample's code", on_click=set_code, args=(start,), icon="↩️")
        display.show_image(image, caption=f"The sample, {caption}", min_side=112)


engine, dataset = session.page_start(
    "Sliders",
    "Each slider sets one latent dimension, most important first; where the browser runs the decoder "
    "(the model card says), the image is decoded in the page as you drag. "
    "Importance is the mean KL divergence from the prior for a VAE and the variance of the codes otherwise.",
)
dataset_codes = dataset_cache.dataset_codes(engine, dataset)
codes = dataset_codes.codes
size, dim_count = len(dataset.x), engine.latent_dim

modes = (["prior"] if engine.source.is_variational else []) + ["percentile", "minmax"]
row = st.columns([2, 3, 2, 2])
index = int(row[0].number_input("Start at dataset index", 0, size - 1, int(dataset.test_idx[0]), key="sliders_i",
                                bind="query-params"))
mode = row[1].selectbox("Slider ranges", modes, format_func=MODES.get, key="sliders_range", bind="query-params",
                        help="Prior ±3σ is offered for VAEs, whose codes are pulled towards N(0, I).")
max_rows = min(MAX_ROWS, dim_count)
n_rows = row[2].number_input("Traversal rows", 1, max_rows, min(8, max_rows), key="sliders_rows", bind="query-params",
                             help="The most important dimensions, one per row.")
n_values = row[3].number_input("Traversal columns", 3, 15, 9, key="sliders_cols", bind="query-params",
                               help="Values from the low to the high end of each dimension's range.")

try:
    ranges = latent.traversal_ranges(mode, codes=codes)
    bounds = slider_bounds(ranges)
except ValueError as e:
    st.error(f"Cannot set the slider ranges: {e}.")
    st.stop()
importance = latent.dimension_importance(codes, dataset_codes.logvar)
order = latent.rank_dimensions(codes, dataset_codes.logvar)
start, clipped = slider_start(codes[index], bounds)

# Sliders restart from the sample's code when the sample, the ranges or the model change (at the
# session's first visit, from the code in the link if it holds one), and take back the code they
# held when they return after a visit to another page (Streamlit forgets unrendered widgets).
origin = (engine.source.content_hash, dataset.identity, index, mode)
if st.session_state.get(ORIGIN_KEY) != origin:
    linked = None
    if ORIGIN_KEY not in st.session_state:
        linked = code_link.code_from_text(st.query_params.get(LINK_PARAM, ""), dim_count)
    set_code(start if linked is None else np.clip(linked, bounds[:, 0], bounds[:, 1]))
    st.session_state[ORIGIN_KEY] = origin
elif any(slider_key(d) not in st.session_state for d in range(dim_count)):
    set_sliders(st.session_state[CODE_KEY])
if clipped.any():
    st.caption(f"{int(clipped.sum())} of this code's values lie outside the {MODES[mode]} range; "
               "their sliders start at the nearest end.")

pins = handoffs.get_pins(engine, dataset)
if pins:
    pinned = np.clip(pins[-1].code, bounds[:, 0], bounds[:, 1])
    st.button(f"Set the sliders to the code pinned on the Map ({pins[-1].where})", on_click=set_code, args=(pinned,),
              icon="📍", help="A click on the Map pins the code under the cursor; values outside the sliders' "
                             "ranges go to the nearest end.")

measure = "KL" if dataset_codes.logvar is not None else "var"
labels = [f"{measure} {value:.3g}" for value in importance]
share = None
if dataset.factors is not None:
    held_out = dataset.test_idx
    share = factor_share(engine.source.content_hash, dataset.identity, codes[held_out], dataset.factors[held_out])
    named = disentangle.dimension_labels(share, dataset.factor_names)
    labels = [f"{factor} · {label}" for factor, label in zip(named, labels)]
caption = index_caption(dataset, index)
explore(engine, dataset.x[index], caption, start, bounds, order, labels)

st.subheader("Traversal")
dims = order[: int(n_rows)]
traversal = engine.decode(latent.traversal_grid(codes[index], dims, ranges, int(n_values)))
grid_area, heatmap_area = st.columns([3, 2]) if share is not None else (st.container(), None)
with grid_area:
    display.show_grid(traversal, int(n_values), key="traversal", filename=f"traversal-{engine.source.name}-{index}.png",
                      caption=f"Rows, top to bottom: {', '.join(f'z{d}' for d in dims)}. Each row sweeps one "
                              f"dimension from the low to the high end of its range ({MODES[mode]}); "
                              f"the others keep the code of {caption}.")
if heatmap_area is not None:
    heatmap_area.plotly_chart(share_heatmap(share, dataset.factor_names, dims), key="factor-heatmap")
    heatmap_area.caption("How much each dimension knows about each factor: mutual information on the test "
                         "images as a share of the factor's entropy (1: the dimension determines it). "
                         "A disentangled code has one strong cell per row and column.")
