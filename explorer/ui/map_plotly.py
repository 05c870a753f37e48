"""The map drawn with Plotly: the dataset's codes as points (WebGL scatter traces; an even sample
of MAX_POINTS of a larger map, such as a store's million), coloured by label, a factor, the
reconstruction error or the neighbourhood kept, with hover text naming each point's index and
factors; the selection and an upload drawn over them."""
from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from PIL import ImageColor

from explorer.data import Dataset
from explorer.engine import DatasetCodes
from explorer.ui.map_jobs import MapState


MAX_POINTS = 100_000  # Plotly's figure travels as JSON: beyond this, an even sample of the points is drawn


def drawn_points(count: int) -> np.ndarray:
    """The points Plotly draws of a map of ``count``: all of them, or MAX_POINTS evenly spread."""
    if count <= MAX_POINTS:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, MAX_POINTS).round().astype(np.int64))


def scatter(state: MapState, dataset: Dataset, codes: DatasetCodes, colour: str, selected: list[int] = (),
            upload: tuple[np.ndarray | None, str] | None = None, height: int = 620,
            kept: np.ndarray | None = None, webgl: bool = True) -> go.Figure:
    """The dataset's images as points (``drawn_points`` of them), coloured by label, by
    reconstruction error or by ``kept`` (each point's share of code neighbours kept on the map,
    NaN where not measured); each point carries its dataset index as customdata, so a selection
    names the images. ``webgl=False`` draws SVG traces, for a browser without WebGL."""
    x, y = state.coords[:, 0], state.coords[:, 1]
    index = drawn_points(len(x))
    figure = go.Figure()
    add = figure.add_scattergl if webgl else figure.add_scatter
    groups = colour_groups(dataset, colour)
    if groups is not None:
        values, names, palette = groups
        first, hover, extra = factor_hover(dataset)
        for k, name in enumerate(names):
            members = index[values[index] == k]
            if len(members):
                add(x=x[members], y=y[members], customdata=extra(members), mode="markers",
                                     name=name, marker=dict(size=4, opacity=0.75, color=palette[k % len(palette)]),
                                     hovertemplate=f"#{first} · {colour} {name}{hover}<extra></extra>")
    elif colour == "kept" and kept is not None:
        add(x=x[index], y=y[index], customdata=index, mode="markers", name="images", showlegend=False,
                             marker=dict(size=4, color=np.nan_to_num(kept[index], nan=-1.0), opacity=0.8,
                                         colorscale=[[0, "lightgrey"], [0.0001, "#d7191c"], [0.5, "#fdae61"],
                                                     [1, "#1a9641"]], cmin=-1e-4, cmax=1,
                                         colorbar=dict(title="10-NN kept", tickvals=[0, 0.5, 1])),
                             hovertemplate="#%{customdata} · neighbourhood kept %{marker.color:.1f}<extra></extra>")
    else:
        add(x=x[index], y=y[index], customdata=index, mode="markers", name="images", showlegend=False,
                             marker=dict(size=4, color=codes.errors[index], colorscale="Viridis", opacity=0.8,
                                         colorbar=dict(title="MSE")),
                             hovertemplate="#%{customdata} · error %{marker.color:.4f}<extra></extra>")
    if len(selected):
        chosen = np.asarray(selected)[:MAX_POINTS]
        add(x=x[chosen], y=y[chosen], mode="markers", name="selected", hoverinfo="skip",
                             marker=dict(size=7, color="rgba(0,0,0,0)", line=dict(width=1, color="black")))
    if upload is not None and upload[0] is not None:
        add(x=upload[0][:, 0], y=upload[0][:, 1], mode="markers", name=upload[1],
                             marker=dict(symbol="star", size=18, color="red", line=dict(width=1, color="white")),
                             hovertemplate=f"{upload[1]}<extra></extra>")
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"),
                         title=f"{state.projection.heading} of {len(x):,} codes"
                               + (f" ({len(index):,} of them drawn, evenly spread)" if len(index) < len(x) else ""),
                         dragmode="lasso",
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
