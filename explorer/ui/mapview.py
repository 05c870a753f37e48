"""The map of a dataset's codes, shared by the Map and Upload pages.

A map is computed once per (checkpoint, dataset, method, parameters) for every session: PCA at
once, t-SNE and UMAP in the background, with PCA shown until they are ready. A 2-D model's
latent space is drawn as it is.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from PIL import ImageColor

from explorer import cache, projection
from explorer.backend import DatasetCodes, InferenceEngine
from explorer.data import Dataset
from explorer.shipped import DEFAULT_CHECKPOINT, SHIPPED_DIR
from explorer.ui import datasets, engines, heap, jobs

CHOICE_KEY = "map_choice"  # the last map asked for, so other pages show the same one
QUICK_WAIT_S = 0.5  # a slow method's map cached on disk arrives within this: no flash of PCA
POLL_S = 1.0


@dataclass
class MapChoice:
    method: str = "pca"
    params: dict = field(default_factory=dict)  # that method's parameters, all of them


@dataclass
class MapState:
    coords: np.ndarray  # (N, 2) position of every dataset image
    projection: projection.Projection  # what is drawn: transform, inverse, label, axis names
    wanted: str  # the method asked for
    pending: Future | None = None  # the wanted map, still computing
    job: str | None = None  # its key, for its progress
    error: str | None = None  # why the wanted map is not shown


# --- which map ---------------------------------------------------------------------------------
def remember(choice: MapChoice) -> None:
    """Keep the Map page's choice in the session, so the other pages show the same map."""
    st.session_state[CHOICE_KEY] = choice


def last_choice() -> MapChoice:
    return st.session_state.get(CHOICE_KEY) or MapChoice()


# --- computing it ------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=32)
def _instant_map(content_hash: str, dataset_identity: str, method: str,
                 _codes: np.ndarray) -> projection.ProjectionResult:
    return projection.project(_codes, method, {}, (content_hash, dataset_identity))


@st.cache_resource(show_spinner=False)
def warm_up_umap() -> threading.Thread:
    """Compile UMAP's numba code once per server, on its own thread so maps queued for the
    background worker do not wait behind it."""
    thread = threading.Thread(target=_warm_up, name="umap-warm-up", daemon=True)
    thread.start()
    return thread


def _warm_up() -> None:
    projection.warm_up()
    heap.freeze_heap()  # numba's compiled code lives as long as the server: out of the collector's way


def _job_key(key_parts: tuple, method: str, params: dict) -> str:
    return cache.key("map", *key_parts, method, params)


def _start(key_parts: tuple, codes: np.ndarray, method: str, params: dict) -> Future:
    """The background job computing this map: one per map for all sessions. The worker gets
    plain arrays and values, and reports its progress to the job store."""
    return jobs.submit(_job_key(key_parts, method, params), projection.project, codes, method, params, key_parts)


@st.cache_resource(show_spinner=False)
def warm_start(default_checkpoint: str = DEFAULT_CHECKPOINT, dataset_name: str = "mnist") -> None:
    """Once per server, off the request path: compile UMAP, and queue the slow maps of the
    model the app opens on, so they land in the disk cache before anyone asks. Other models'
    maps are made on first request, then cached on disk too."""
    warm_up_umap()
    engine = engines.engine_for(SHIPPED_DIR / default_checkpoint)
    dataset = datasets.dataset_for(dataset_name)
    codes = engine.encode_dataset(dataset).codes  # read from the disk cache after the first run
    key_parts = (engine.source.content_hash, dataset.identity)
    for method in ("umap", "tsne"):
        _start(key_parts, codes, method, projection.default_params(method))


def current_map(engine: InferenceEngine, dataset: Dataset, codes: DatasetCodes, choice: MapChoice) -> MapState:
    """The map to draw now: the wanted one if ready, else PCA with the wanted one pending. A
    choice made for another model (codes of another size) falls back to this model's first map."""
    offered = projection.methods_for(engine.latent_dim)
    if choice.method not in offered:
        choice = MapChoice(offered[0])
    key_parts = (engine.source.content_hash, dataset.identity)
    if projection.PROJECTIONS[choice.method].instant:
        result = _instant_map(*key_parts, choice.method, codes.codes)
        return MapState(result.coords, result.projection, choice.method)
    pca = _instant_map(*key_parts, "pca", codes.codes)
    job = _job_key(key_parts, choice.method, choice.params)
    future = _start(key_parts, codes.codes, choice.method, choice.params)
    try:
        result = future.result(timeout=QUICK_WAIT_S)
    except FutureTimeout:
        return _instead_of(choice, pca, pending=future, job=job)
    except Exception as e:  # the job's own error: shown until the job store retries it
        return _instead_of(choice, pca, error=str(e) or type(e).__name__)
    return MapState(result.coords, result.projection, choice.method)


def _instead_of(choice: MapChoice, pca: projection.ProjectionResult, error: str | None = None,
                pending: Future | None = None, job: str | None = None) -> MapState:
    """PCA, shown while the wanted map computes or because it failed."""
    label = projection.label(choice.method)
    why = f"The {label} map could not be made: {error}. Showing PCA instead." if error else None
    return MapState(pca.coords, pca.projection, choice.method, pending=pending, job=job, error=why)


def explain(state: MapState) -> None:
    """Say what the map is, why it is not the one asked for, and follow a pending one."""
    if state.projection.method == "latent":
        st.info("This model's latent space is 2-D, so the map is the latent space itself, with no projection: "
                "x is z0, y is z1.")
    if state.error:
        st.error(state.error)
    if state.pending is not None:
        _follow(state.pending, state.job, projection.label(state.wanted))


@st.fragment(run_every=POLL_S)
def _follow(future: Future, job: str, label: str) -> None:
    # Polls without blocking anyone; the whole page reruns once to swap the finished map in.
    if future.done():
        st.rerun()
    fraction = jobs.progress(job)
    st.progress(fraction, text=f"Computing the {label} map in the background ({fraction:.0%}). "
                               f"PCA is shown meanwhile; the {label} map replaces it when ready.")


# --- drawing it --------------------------------------------------------------------------------
def scatter(state: MapState, dataset: Dataset, codes: DatasetCodes, colour: str, selected: list[int] = (),
            upload: tuple[np.ndarray | None, str] | None = None, height: int = 620,
            kept: np.ndarray | None = None) -> go.Figure:
    """The dataset's images as points, coloured by label, by reconstruction error or by ``kept``
    (each point's share of code neighbours kept on the map, NaN where not measured); each point
    carries its dataset index as customdata, so a selection names the images."""
    x, y = state.coords[:, 0], state.coords[:, 1]
    index = np.arange(len(x))
    figure = go.Figure()
    groups = colour_groups(dataset, colour)
    if groups is not None:
        values, names, palette = groups
        first, hover, extra = factor_hover(dataset)
        for k, name in enumerate(names):
            members = index[values == k]
            if len(members):
                figure.add_scattergl(x=x[members], y=y[members], customdata=extra(members), mode="markers",
                                     name=name, marker=dict(size=4, opacity=0.75, color=palette[k % len(palette)]),
                                     hovertemplate=f"#{first} · {colour} {name}{hover}<extra></extra>")
    elif colour == "kept" and kept is not None:
        figure.add_scattergl(x=x, y=y, customdata=index, mode="markers", name="images", showlegend=False,
                             marker=dict(size=4, color=np.nan_to_num(kept, nan=-1.0), opacity=0.8,
                                         colorscale=[[0, "lightgrey"], [0.0001, "#d7191c"], [0.5, "#fdae61"],
                                                     [1, "#1a9641"]], cmin=-1e-4, cmax=1,
                                         colorbar=dict(title="10-NN kept", tickvals=[0, 0.5, 1])),
                             hovertemplate="#%{customdata} · neighbourhood kept %{marker.color:.1f}<extra></extra>")
    else:
        figure.add_scattergl(x=x, y=y, customdata=index, mode="markers", name="images", showlegend=False,
                             marker=dict(size=4, color=codes.errors, colorscale="Viridis", opacity=0.8,
                                         colorbar=dict(title="MSE")),
                             hovertemplate="#%{customdata} · error %{marker.color:.4f}<extra></extra>")
    if len(selected):
        chosen = np.asarray(selected)
        figure.add_scattergl(x=x[chosen], y=y[chosen], mode="markers", name="selected", hoverinfo="skip",
                             marker=dict(size=7, color="rgba(0,0,0,0)", line=dict(width=1, color="black")))
    if upload is not None and upload[0] is not None:
        figure.add_scattergl(x=upload[0][:, 0], y=upload[0][:, 1], mode="markers", name=upload[1],
                             marker=dict(symbol="star", size=18, color="red", line=dict(width=1, color="white")),
                             hovertemplate=f"{upload[1]}<extra></extra>")
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"),
                         title=f"{state.projection.heading} of {len(x):,} codes", dragmode="lasso",
                         xaxis_title=state.projection.axis_names[0], yaxis_title=state.projection.axis_names[1])
    return figure


def colour_groups(dataset: Dataset, colour: str) -> tuple[np.ndarray, list[str], list[str]] | None:
    """(group of each point, group names, palette) for colouring by label or by a factor; None
    for the continuous reconstruction error. Factors whose values are words (shape, colour) get
    distinct colours (their own, when the values are colour names); ordered ones (scale,
    position, rotation) a sequential scale."""
    if colour == "label" and dataset.y is not None and dataset.classes:
        palette = px.colors.qualitative.D3 if len(dataset.classes) <= 10 else px.colors.qualitative.Alphabet
        return dataset.y, dataset.classes, palette
    if colour in dataset.factor_names:
        column = dataset.factor_names.index(colour)
        values = dataset.factors[:, column]
        names = (dataset.factor_values[column] if dataset.factor_values
                 else [str(v) for v in range(int(values.max()) + 1)])
        if all(name in ImageColor.colormap for name in names):  # a colour factor, drawn in its colours
            return values, names, names
        if all(name.isalpha() for name in names):
            return values, names, px.colors.qualitative.D3 if len(names) <= 10 else px.colors.qualitative.Alphabet
        return values, names, px.colors.sample_colorscale("Viridis", np.linspace(0, 1, max(len(names), 2)))
    return None


def factor_hover(dataset: Dataset):
    """(the index's placeholder, hover text after it, customdata of given points). With factors,
    each point carries them as numbers beside its index, so a tooltip names them all without
    a string per point; without, the customdata is the index alone."""
    if dataset.factors is None:
        return "%{customdata}", "", lambda members: members
    hover = "".join(f"<br>{name} %{{customdata[{j + 1}]}}" for j, name in enumerate(dataset.factor_names))
    return "%{customdata[0]}", hover, lambda members: np.column_stack([members, dataset.factors[members]])


def labels(dataset: Dataset) -> list[str] | None:
    if dataset.y is None or not dataset.classes:
        return None
    return [dataset.classes[k] for k in dataset.y]
