"""Map: the dataset's codes in 2-D, coloured by label or reconstruction error; select points to
see them, and decode a grid over the map to see the manifold the model learned."""
from __future__ import annotations

import streamlit as st

from explorer import map_points, projection, render
from explorer.indices import evenly_spaced, index_caption
from explorer.ui import dataset_cache, display, fidelity, handoffs, map_jobs, map_plotly, session

SELECTION_SHOWN = 64
COLOURS = {"label": "label", "error": "reconstruction error", "kept": "neighbourhood kept"}

engine, dataset = session.page_start("Map")
codes = dataset_cache.dataset_codes(engine, dataset)
map_jobs.warm_up_umap()

controls, chart = st.columns([1, 3])
offered = projection.methods_for(engine.latent_dim)
choice = map_jobs.MapChoice(offered[0])
with controls:
    if len(offered) > 1:
        # A form: the slow maps are computed only when asked for. Its widgets hold the last map
        # asked for (their values change on submit only), in the link and across page switches.
        with st.form("map-form"):
            method = st.radio("Projection", offered, format_func=projection.label, horizontal=True,
                              help="PCA is linear and instant; t-SNE and UMAP keep neighbourhoods and take "
                                   "seconds, computed in the background.", key="map_method", bind="query-params")
            values: dict[str, dict] = {}
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
    colour_options = (["label"] if dataset.y is not None else []) + ["error", "kept"] + dataset.factor_names
    # a factor by its own name, which is also what the link holds (a bound radio keeps the shown name)
    colour = st.radio("Colour by", colour_options, format_func=lambda c: COLOURS.get(c, c),
                      horizontal=True, key="map_colour", bind="query-params",
                      help="The label, the reconstruction error, how much of each point's code neighbourhood the map keeps, or one of the dataset's ground-truth factors.")

try:
    state = map_jobs.current_map(engine, dataset, codes, choice)
except ValueError as e:
    st.error(f"No map of these codes: {e}")
    st.stop()
upload_code = handoffs.upload_code(engine)
upload = None
if upload_code is not None:
    try:
        upload = (state.projection.transform(upload_code[None]), handoffs.uploaded_image()[1])
    except ValueError as e:
        st.warning(f"The uploaded image cannot be placed on this map: {e}")

drawn = state.projection.method
chart_key = f"map-{drawn}-{st.session_state.get('map_chart_epoch', 0)}"  # a new key clears the chart's selection


def keep_selection() -> None:
    event = st.session_state[chart_key]
    handoffs.set_selection(map_points.indices_from_points(event["selection"]["points"]), dataset)


selection = handoffs.get_selection(dataset)
faithful = fidelity.map_fidelity(engine.source.content_hash, codes.codes, state.coords)
with chart:
    map_jobs.explain(state)
    kept = fidelity.kept_per_point(faithful, len(state.coords)) if colour == "kept" else None
    st.plotly_chart(map_plotly.scatter(state, dataset, codes, colour, selected=selection, upload=upload, kept=kept),
                    key=chart_key, on_select=keep_selection, selection_mode=("points", "box", "lasso"),
                    config={"displaylogo": False,
                            "toImageButtonOptions": {"filename": f"map-{drawn}", "scale": 2}})
    st.caption("Click, box or lasso points to select them; double-click empty space to clear. The camera in the "
               "chart's toolbar saves it as PNG.")
    fidelity.show_lines(faithful)
with controls:
    # Built only when clicked: the table of 5,000 codes is not worth making on every rerun.
    st.download_button("Download the map as CSV", mime="text/csv", file_name=f"map-{drawn}.csv", key="map-csv",
                       data=lambda: map_points.map_table(state.coords, codes, map_points.point_labels(dataset)).to_csv(index=False))
    st.caption("Positions, labels, reconstruction errors and codes of every image.")

st.subheader("Selection")
if not selection:
    st.caption("Nothing selected yet. The selection is kept for the Compare, Interpolate and Arithmetic pages.")
else:
    shown = evenly_spaced(selection, SELECTION_SHOWN)
    st.markdown(f"**{len(selection):,} images selected**"
                + (f"; {SELECTION_SHOWN} of them, evenly spaced, are shown" if len(selection) > SELECTION_SHOWN else "")
                + ". Original | reconstruction; the other pages can use this selection.")
    pairs = render.side_by_side(dataset.x[shown], engine.reconstruct(dataset.x[shown]))
    display.show_gallery(pairs, [f"{index_caption(dataset, i)} · {codes.errors[i]:.4f}"
                                 + (f" · {dataset.factor_text(i)}" if dataset.factors is not None else "")
                                 for i in shown], side=56 if dataset.factors is None else 96)
    left, right = st.columns([1, 5])
    with left:
        display.png_download(pairs, 8, "selection.png", key="selection")
    with right:
        if st.button("Clear selection"):
            handoffs.set_selection([], dataset)
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
