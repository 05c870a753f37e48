"""Compare's latent-size view: test MSE against code size for the shipped sweep, PCA and the
picked checkpoints, knee marked, and the same test images reconstructed at every size."""
from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from explorer import comparison, sweep
from explorer.data import Dataset
from explorer.metrics import per_sample_mse
from explorer.shipped import SHIPPED_DIR
from explorer.ui import baselines, dataset_cache, display, engine_cache

SWEEP_DIR = SHIPPED_DIR / "sweep"
IMAGES = 8
FAMILY_NAMES = {"ae": "MLP autoencoder", "linear_ae": "linear autoencoder", "pca": "PCA"}


def curves(summary: dict) -> dict[str, tuple[list[int], list[float]]]:
    """Sizes and test MSEs of each family in the sweep, and of PCA."""
    lines = {family: ([p["latent_dim"] for p in entry["points"]], [p["test_mse"] for p in entry["points"]])
             for family, entry in sorted(summary["families"].items())}
    lines["pca"] = ([p["latent_dim"] for p in summary["pca"]], [p["test_mse"] for p in summary["pca"]])
    return lines


def picked_points(engines, dataset: Dataset) -> list[tuple[str, int, float]]:
    """(name, latent size, test MSE) of each picked checkpoint that fits the dataset."""
    points = []
    for engine in engines:
        if list(engine.input_shape) == dataset.input_shape:
            errors = dataset_cache.dataset_codes(engine, dataset).errors
            points.append((engine.source.name, engine.latent_dim, float(errors[dataset.test_idx].mean())))
    return points


def curve_figure(lines: dict, picked: list[tuple[str, int, float]]) -> go.Figure:
    figure = go.Figure()
    palette = px.colors.qualitative.Plotly
    for (family, (sizes, mse)), colour in zip(lines.items(), palette):
        name = FAMILY_NAMES.get(family, family)
        figure.add_scatter(x=sizes, y=mse, mode="lines+markers", name=name,
                           line=dict(color=colour, dash="dash" if family == "pca" else "solid"))
        if family != "pca":
            bend = sweep.knee(sizes, mse)
            figure.add_scatter(x=[bend], y=[mse[sizes.index(bend)]], mode="markers+text", name=f"knee ({name})",
                               marker=dict(symbol="star", size=16, color=colour, line=dict(width=1, color="black")),
                               text=[f"knee: {bend}"], textposition="top right", showlegend=False)
    for (name, size, mse), colour in zip(picked, palette[len(lines):] * 2):
        figure.add_scatter(x=[size], y=[mse], mode="markers", name=name,
                           marker=dict(symbol="diamond", size=12, color=colour))
    figure.update_layout(height=460, margin=dict(l=10, r=10, t=50, b=10), title="Test MSE against latent size",
                         xaxis=dict(type="log", title="latent size (log scale)", tickvals=sorted(lines["pca"][0])),
                         yaxis_title="test MSE (per pixel)")
    return figure


def reconstructions(family: str, summary: dict, dataset: Dataset, originals: np.ndarray) -> list[np.ndarray]:
    """The originals reconstructed by ``family`` at each of its sweep sizes, smallest first."""
    if family == "pca":
        return [baselines.pca_baseline(dataset, p["latent_dim"]).reconstruct(originals) for p in summary["pca"]]
    return [engine_cache.engine_for(SWEEP_DIR / p["checkpoint"]).reconstruct(originals)
            for p in summary["families"][family]["points"]]


def show(engines, dataset: Dataset) -> None:
    summary = sweep.read_summary(SWEEP_DIR)
    if summary is None:
        st.info(f"No sweep is shipped in {SWEEP_DIR}: make one with `python -m explorer sweep`.")
        return
    if summary["dataset"]["identity"] != dataset.identity:
        st.info(f"The shipped sweep was trained on {summary['dataset']['name']}: pick that dataset in the sidebar "
                "to see it.")
        return
    lines = curves(summary)
    st.plotly_chart(curve_figure(lines, picked_points(engines, dataset)), key="latent-size-chart")
    knees = ", ".join(f"{FAMILY_NAMES.get(f, f)} at {sweep.knee(*lines[f])}" for f in sorted(summary["families"]))
    st.caption(f"One recipe per family, trained at each size; PCA fitted on the training split. Knee (where a larger "
               f"code buys least, Kneedle on log size): {knees}. A linear autoencoder trained with MSE learns PCA's "
               "subspace, so its curve meets PCA's; a nonlinear one beats PCA most where the code is small. "
               "Diamonds: the checkpoints picked in the sidebar, at their sizes.")

    family = st.radio("Reconstructions by", [*sorted(summary["families"]), "pca"], format_func=lambda f: FAMILY_NAMES.get(f, f),
                      horizontal=True, key="compare_sweep_family", bind="query-params")
    indices = comparison.random_indices(dataset.test_idx, IMAGES, 0)
    originals = dataset.x[indices]
    rows = reconstructions(family, summary, dataset, originals)
    sizes = lines[family][0]
    mse = [float(per_sample_mse(originals, r).mean()) for r in rows]
    display.show_grid(np.concatenate([originals, *rows]), len(originals), key="latent-size-grid",
                      filename=f"latent-size-{family}.png",
                      caption="Top row: the same 8 test images; below, reconstructed by the "
                              f"{FAMILY_NAMES.get(family, family)} at latent size "
                              + ", ".join(f"{d} (MSE {m:.4f})" for d, m in zip(sizes, mse)) + ", top to bottom.")
