"""Map: the dataset's codes in 2-D, coloured by label, reconstruction error, a factor or the
neighbourhood kept; the decoded image under the cursor; select points to see them, and decode a
grid over the map to see the manifold the model learned.

The map is drawn in the page with WebGL (map_webgl) where the browser and the install allow it,
else with Plotly (map_plotly); both hand the selection back as dataset indices. A store's codes
(up to a million) are mapped the same way (map_jobs says how); the selection's gallery fetches
only the images it shows."""
from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from explorer import map_arrays, map_points, projection, render
from explorer.data import DatasetError
from explorer.indices import evenly_spaced, index_caption
from explorer.ui import dataset_cache, display, fidelity, handoffs, map_jobs, map_plotly, map_webgl, session

SELECTION_SHOWN = 64
SELECTION_LINK_KEY = "sel"  # a selection in the link: indices and ranges, "3,10-20"
SELECTION_LINK_MAX = 2000  # characters; a longer selection is not written into the link
COLOURS = map_webgl.COLOURS


def selection_from_link(dataset) -> None:
    """A selection given in the link (``?sel=3,10-20``) becomes the session's selection once."""
    text = st.query_params.get(SELECTION_LINK_KEY)
    if not text or st.session_state.get("map_sel_applied") == (dataset.identity, text):
        return
    st.session_state["map_sel_applied"] = (dataset.identity, text)
    try:
        handoffs.set_selection(map_arrays.ranges_to_indices(text, len(dataset.x)), dataset)
    except ValueError as e:
        st.warning(f"The selection in the link was not used: {e}.")


def selection_to_link(indices) -> None:
    text = map_arrays.indices_to_ranges(indices)
    if text and len(text) <= SELECTION_LINK_MAX:
        st.query_params[SELECTION_LINK_KEY] = text
        st.session_state["map_sel_applied"] = (dataset.identity, text)
    else:
        st.query_params.pop(SELECTION_LINK_KEY, None)


def choose_drawer(drawer: str) -> None:
    st.query_params[map_webgl.DRAWER_KEY] = drawer
    st.session_state[map_webgl.DRAWER_KEY] = drawer


engine, dataset = session.page_start("Map")
codes = dataset_cache.dataset_codes(engine, dataset)
why_not_webgl = map_webgl.unavailable()
selection_from_link(dataset)

controls, chart = st.columns([1, 3]) if why_not_webgl else (st.container(), st.container())
offered = projection.methods_for(engine.latent_dim)
choice = map_jobs.MapChoice(offered[0])
values: dict[str, dict] = {}
colour_options = (["label"] if dataset.y is not None else []) + ["error", "kept"] + dataset.factor_names
with controls:
    if len(offered) > 1:
        # A form: the slow maps are computed only when asked for. Its widgets hold the last map
        # asked for (their values change on submit only), in the link and across page switches.
        # with WebGL the computed maps are switched in the map's own toolbar; this form asks for others
        with st.container() if why_not_webgl else st.expander("Compute a map: t-SNE, UMAP and their settings"):
            with st.form("map-form"):
                method = st.radio("Projection", offered, format_func=projection.label, horizontal=True,
                                  help="PCA is linear and instant; t-SNE and UMAP keep neighbourhoods and take "
                                       "seconds, computed in the background.", key="map_method", bind="query-params")
                for name in [m for m in offered if projection.method_params(m)]:
                    values[name] = {}
                    with st.expander(f"{projection.label(name)} settings", expanded=method == name):
                        for param, spec in projection.method_params(name).items():
                            kind = type(spec.default)
                            values[name][param] = st.number_input(
                                param.replace("_", " "), min_value=kind(spec.low), max_value=kind(spec.high),
                                value=spec.default, step=kind(1) if kind is int else 0.05 if spec.high <= 1 else 1.0,
                                help=spec.help, key=f"{name}_{param}", bind="query-params")
                st.form_submit_button("Compute map", type="primary")
        choice = map_jobs.MapChoice(method, values.get(method, {}))
    map_jobs.remember(choice)
    if why_not_webgl:
        # a factor by its own name, which is also what the link holds (a bound radio keeps the shown name)
        colour = st.radio("Colour by", colour_options, format_func=lambda c: COLOURS.get(c, c),
                          horizontal=True, key="map_colour", bind="query-params",
                          help="The label, the reconstruction error, how much of each point's code neighbourhood "
                               "the map keeps, or one of the dataset's ground-truth factors.")
    else:  # the map's own toolbar switches colourings; the link keeps the last one, by its shown name as the radio
        named = {COLOURS.get(c, c): c for c in colour_options}
        colour = named.get(st.query_params.get("map_colour", ""), colour_options[0])

try:
    state = map_jobs.current_map(engine, dataset, codes, choice)
except ValueError as e:
    st.error(f"No map of these codes: {e}")
    st.stop()
upload_code = handoffs.upload_code(engine)
drawn = state.projection.method


def on_view(view: dict) -> None:
    """The page switched projection or colouring: remember it (for the link and the other pages)."""
    method, shown_colour = view.get("projection"), view.get("colour")
    if method in offered and len(offered) > 1:
        st.session_state["map_method"] = method
    if shown_colour in colour_options:
        try:
            st.query_params["map_colour"] = COLOURS.get(shown_colour, shown_colour)
        except StreamlitAPIException:  # still bound to the Plotly map's radio in this session
            st.session_state["map_colour"] = shown_colour


def on_selection(indices) -> None:
    handoffs.set_selection(indices, dataset)
    selection_to_link(indices)


def on_pin(pin: dict) -> None:
    x, y = pin["xy"]
    where = f"{projection.label(pin['projection'])} ({x:.2f}, {y:.2f})"
    handoffs.add_pin(handoffs.Pin(np.asarray(pin["code"], dtype=np.float32), where, int(pin["nearest"])),
                     engine, dataset)
    st.session_state["map_pin_mark"] = {"projection": pin["projection"], "xy": [x, y]}


selection = handoffs.get_selection(dataset)
if not why_not_webgl:
    with chart:
        map_jobs.explain(state)
        measured = None
        if colour == "kept":
            measured = fidelity.kept_per_point(fidelity.map_fidelity(engine.source.content_hash, codes.codes,
                                                                     state.coords), len(state.coords))
        pins = handoffs.get_pins(engine, dataset)
        marks = map_webgl.Marks(upload=(handoffs.uploaded_image()[1], upload_code) if upload_code is not None else None,
                                pinned=st.session_state.get("map_pin_mark") if pins else None)
        map_webgl.draw(engine, dataset, codes, state, key="map-webgl", colour=colour, marks=marks,
                       selection=selection, params=values, kept=measured, on_view=on_view,
                       on_selection=on_selection, on_pin=on_pin)
        st.caption("Drag to pan, wheel to zoom; Box and Lasso select points (every point is tested); the decoded "
                   "image under the cursor is drawn beside the map; a click pins its code. Drawn with WebGL in "
                   "the page.")
        st.button("Draw with Plotly instead", on_click=choose_drawer, args=("plotly",), key="map-drawer")
else:
    upload = None
    if upload_code is not None:
        try:
            upload = (state.projection.transform(upload_code[None]), handoffs.uploaded_image()[1])
        except ValueError as e:
            st.warning(f"The uploaded image cannot be placed on this map: {e}")
    chart_key = f"map-{drawn}-{st.session_state.get('map_chart_epoch', 0)}"  # a new key clears the chart's selection

    def keep_selection() -> None:
        on_selection(map_points.indices_from_points(st.session_state[chart_key]["selection"]["points"]))

    with chart:
        map_jobs.explain(state)
        kept = None
        if colour == "kept":
            measured = fidelity.map_fidelity(engine.source.content_hash, codes.codes, state.coords)
            kept = fidelity.kept_per_point(measured, len(state.coords))
        st.plotly_chart(map_plotly.scatter(state, dataset, codes, colour, selected=selection, upload=upload, kept=kept,
                                             webgl="no WebGL" not in why_not_webgl),
                        key=chart_key, on_select=keep_selection, selection_mode=("points", "box", "lasso"),
                        config={"displaylogo": False, "plotGlPixelRatio": 1,
                                "toImageButtonOptions": {"filename": f"map-{drawn}", "scale": 2}})
        st.caption("Click, box or lasso points to select them; double-click empty space to clear. The camera in the "
                   "chart's toolbar saves it as PNG. "
                   + ("Drawn with Plotly, as chosen." if why_not_webgl == "Plotly was chosen"
                      else f"Drawn with Plotly: {why_not_webgl}."))
        if why_not_webgl == "Plotly was chosen":
            st.button("Draw with WebGL in the page", on_click=choose_drawer, args=("webgl",), key="map-drawer")

with (chart if why_not_webgl else st.container()):
    # after the map: its figures take a second or two the first time, and the map need not wait
    fidelity.show_lines(fidelity.map_fidelity(engine.source.content_hash, codes.codes, state.coords))
with controls if why_not_webgl else st.container():
    if len(state.coords) <= map_points.TABLE_MAX_ROWS:
        # Built only when clicked: the table of 5,000 codes is not worth making on every rerun.
        st.download_button("Download the map as CSV", mime="text/csv", file_name=f"map-{drawn}.csv", key="map-csv",
                           data=lambda: map_points.map_table(state.coords, codes, map_points.point_labels(dataset)).to_csv(index=False))
        st.caption("Positions, labels, reconstruction errors and codes of every image.")
    else:
        st.caption(f"A map of {len(state.coords):,} points is not offered as CSV (more than "
                   f"{map_points.TABLE_MAX_ROWS:,} rows); a store's codes, errors and labels read with pandas: "
                   f"`pandas.read_parquet(STORE + '/blocks')`.")

pins = handoffs.get_pins(engine, dataset)
if pins:
    st.caption(f"{len(pins)} code{'s' if len(pins) > 1 else ''} pinned on the map (last: {pins[-1].where}, nearest "
               f"image #{pins[-1].nearest}), for Interpolate, Arithmetic and Sliders.")

st.subheader("Selection")
if not selection:
    st.caption("Nothing selected yet. The selection is kept for the Compare, Interpolate and Arithmetic pages, and "
               "in the link (`?sel=3,10-20`).")
else:
    shown = evenly_spaced(selection, SELECTION_SHOWN)
    st.markdown(f"**{len(selection):,} images selected**"
                + (f"; {SELECTION_SHOWN} of them, evenly spaced, are shown" if len(selection) > SELECTION_SHOWN else "")
                + ". Original | reconstruction; the other pages can use this selection.")
    st.caption(map_points.selection_summary(selection, codes.errors, dataset.y, dataset.classes))
    try:
        originals = dataset.x[shown]  # a store's: only these, fetched by reference
    except DatasetError as e:
        st.warning(f"The selected images cannot be shown: {e}")
        pairs = None
    else:
        pairs = render.side_by_side(originals, engine.reconstruct(originals))
        display.show_gallery(pairs, [f"{index_caption(dataset, i)} · {codes.errors[i]:.4f}"
                                     + (f" · {dataset.factor_text(i)}" if dataset.factors is not None else "")
                                     for i in shown], side=56 if dataset.factors is None else 96)
    left, middle, right = st.columns([1, 1, 4])
    with left:
        if pairs is not None:
            display.png_download(pairs, 8, "selection.png", key="selection")
    with middle:
        st.download_button("Indices as CSV", data=lambda: "index\n" + "\n".join(map(str, selection)) + "\n",
                           file_name="selection.csv", mime="text/csv", key="selection-csv")
    with right:
        if st.button("Clear selection"):
            handoffs.set_selection([], dataset)
            st.query_params.pop(SELECTION_LINK_KEY, None)
            st.session_state["map_chart_epoch"] = st.session_state.get("map_chart_epoch", 0) + 1
            st.rerun()

st.subheader("Manifold")
size = st.slider("Grid size", 4, 24, 12, help="Positions on a regular grid over the map, decoded into images.",
                 key="map_grid", bind="query-params")
positions = map_points.manifold_positions(state.coords, size)
try:
    decoded = engine.decode(state.projection.inverse(positions))
except ValueError as e:
    st.warning(f"No manifold for this map: {e}")
else:
    display.show_grid(decoded, size, caption=f"Decoded grid over the {state.projection.label} map, top row = "
                                            f"top of the plot ({state.projection.inverse_note}).",
                     key="manifold", cell=max(28, 840 // size), filename=f"manifold-{drawn}.png")
map_jobs.first_map_sent()  # the slow background work (numba's compilation, t-SNE, UMAP) may start
map_jobs.warm_up_umap()
