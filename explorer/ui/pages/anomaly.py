"""Anomaly: the images a model reconstructs worst, and how well its error finds a class it never saw."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer import formatting, metrics, render
from explorer.indices import index_caption
from explorer.store_dataset import StoreDataset
from explorer.ui import dataset_cache, display, engine_cache, session

WORST_SHOWN = 64
HISTOGRAM_BINS = 60
RAW_HISTOGRAM_MAX = 100_000  # errors sent to the browser as they are; more are binned here (a store's million)

engine, dataset = session.page_start(
    "Anomaly",
    "An autoencoder reconstructs what resembles its training data well; a large reconstruction "
    "error marks an image as unusual.",
)
codes = dataset_cache.dataset_codes(engine, dataset)


@st.cache_data(show_spinner="Scoring the held-out class against PCA…", max_entries=16)
def held_out_report(content_hash: str, dataset_identity: str, anomaly_class: int, _errors: np.ndarray,
                    _engine, _dataset) -> metrics.AnomalyReport:
    x_test, y_test = _dataset.split("test")
    x_normal = _dataset.x[_dataset.train_indices(exclude_class=anomaly_class)]
    return metrics.anomaly_report(_errors[_dataset.test_idx], x_test, y_test, x_normal,
                                  anomaly_class, _engine.latent_dim)


def use_model(name: str) -> None:
    st.session_state["ckpt"] = [name, *[n for n in st.session_state.get("ckpt", []) if n != name]]


def no_held_out_class(engine, dataset) -> None:
    """Why there is no ROC curve for this model, and the shipped model that has one."""
    held_out = [m for m in engine_cache.shipped_models()
                if m.anomaly_class is not None and m.input_shape == dataset.input_shape]
    text = (f"No ROC curve: {engine.source.name} was trained on every class, so no class is new to it. The ROC "
            "curve measures how well reconstruction error finds a class the model never saw, so it needs a model "
            "trained without one.")
    if not held_out:
        st.info(text)
        return
    model = held_out[0]
    if session.context().own_model:
        st.info(f"{text} {model.name} never saw a {model.anomaly_class}: pick it in the sidebar's list and clear "
                "your own model's path or upload.")
        return
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.info(f"{text} {model.name} never saw a {model.anomaly_class}.")
    right.button(f"Use {model.name}", on_click=use_model, args=(model.name,), key="use_anomaly_model")


part = st.radio("Images", ["test split", "whole dataset"], horizontal=True, key="anomaly_images", bind="query-params",
                help=f"The test split holds {len(dataset.test_idx):,} images, the whole dataset {len(dataset.x):,}.")
indices = dataset.test_idx if part == "test split" else np.arange(len(dataset.x))
errors = codes.errors[indices]

low, high = float(errors.min()), float(errors.max())
threshold = st.slider("Threshold on reconstruction error (MSE)", min_value=low, max_value=max(high, low + 1e-6),
                      value=float(np.percentile(errors, 95)), format="%.4f",
                      key=f"threshold-{engine.source.content_hash}-{dataset.identity}-{part}",
                      help="Starts at the 95th percentile of the errors shown.")
flagged = metrics.flag_above(errors, threshold)
st.markdown(f"**{flagged.count:,} of {flagged.total:,} images ({flagged.share:.1%}) are above the threshold** "
            f"{threshold:.4f} (the {metrics.error_percentile(errors, threshold):.1f}th percentile).")

anomaly_class = engine.source.training.anomaly_class
report = None
if anomaly_class is None:
    no_held_out_class(engine, dataset)
elif isinstance(anomaly_class, int) and not isinstance(anomaly_class, bool):
    if dataset.y is None or anomaly_class not in set(dataset.y[dataset.test_idx].tolist()):
        st.warning(f"{engine.source.name} was trained without class {anomaly_class}, but this dataset's test "
                   "split has no images labelled so: the ROC curve needs them.")
    elif isinstance(dataset, StoreDataset):
        st.info("No ROC curve on a store: its PCA baseline is fitted on thousands of training images held in memory, "
                "and a store's images are fetched by reference a few at a time. Open the dataset the store was "
                "encoded from for the ROC curve; the errors below are the store's own.")
    else:
        try:
            report = held_out_report(engine.source.content_hash, dataset.identity, anomaly_class,
                                     codes.errors, engine, dataset)
        except ValueError as e:
            st.warning(f"No ROC curve: {e}.")

def add_errors(figure: go.Figure, values: np.ndarray, **style) -> None:
    """A histogram of errors, binned here when there are too many to send (the same bins either way)."""
    if len(values) <= RAW_HISTOGRAM_MAX:
        figure.add_histogram(x=values, xbins=bins, **style)
        return
    counts, edges = np.histogram(values, HISTOGRAM_BINS, range=(low, low + bins["size"] * HISTOGRAM_BINS))
    figure.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=bins["size"], **style)


histogram = go.Figure()
bins = dict(start=low, end=high, size=max(high - low, 1e-6) / HISTOGRAM_BINS)  # one set of bins for every trace
if report is not None and part == "test split":
    held_out = report.is_anomaly.astype(bool)
    add_errors(histogram, errors[~held_out], name="other digits", marker_color="#1f77b4", opacity=0.75)
    add_errors(histogram, errors[held_out], name=f"held-out class {anomaly_class}", marker_color="#ff7f0e",
               opacity=0.75)
    histogram.update_layout(barmode="overlay")
else:
    add_errors(histogram, errors, name="images", marker_color="#1f77b4")
histogram.add_vline(x=threshold, line_dash="dash", line_color="red", annotation_text="threshold")
histogram.update_layout(xaxis_title="reconstruction error (MSE)", yaxis_title="images", height=340,
                        margin=dict(l=10, r=10, t=30, b=10))
st.plotly_chart(histogram, key="error-histogram")

if report is not None:
    st.subheader(f"Finding the held-out class {anomaly_class}")
    st.caption(f"{engine.source.name} never saw class {anomaly_class} while training. Ranking the test "
               f"images by reconstruction error separates that class from the other digits this well; PCA, "
               f"fitted on the same training images at the same size ({engine.latent_dim} components), is the "
               "baseline.")
    roc = go.Figure()
    roc.add_scatter(x=report.model["fpr"], y=report.model["tpr"], mode="lines", line_color="#1f77b4",
                    name=f"{engine.source.name} (AUC {report.model['auc']:.3f})")
    roc.add_scatter(x=report.pca["fpr"], y=report.pca["tpr"], mode="lines", line_color="#ff7f0e",
                    name=f"PCA k={engine.latent_dim} (AUC {report.pca['auc']:.3f})")
    roc.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="gray"), name="chance")
    roc.update_layout(xaxis_title="false positive rate (other digits flagged)",
                      yaxis_title=f"true positive rate ({anomaly_class}s flagged)", height=420,
                      margin=dict(l=10, r=10, t=30, b=10))
    left, right = st.columns([2, 1])
    left.plotly_chart(roc, key="roc")
    right.metric("Model ROC AUC", f"{report.model['auc']:.3f}",
                 delta=f"{formatting.signed(report.model['auc'] - report.pca['auc'])} vs PCA")
    right.metric("PCA ROC AUC", f"{report.pca['auc']:.3f}")
    training = engine.source.training
    if training.anomaly_auc is not None or training.pca_anomaly_auc is not None:
        right.caption(f"Recorded at training: {training.figure('anomaly_auc', '.3f')} and PCA "
                      f"{training.figure('pca_anomaly_auc', '.3f')}.")

st.subheader("Worst reconstructed")
if flagged.count == 0:
    st.info("No image is above the threshold: lower it to see the worst reconstructed ones.")
else:
    shown = indices[flagged.flagged[:WORST_SHOWN]]
    st.caption(f"Original | reconstruction, worst first: {len(shown)} of the {flagged.count:,} above the threshold"
               + (f" (the first {WORST_SHOWN})" if flagged.count > WORST_SHOWN else "") + ".")
    originals = dataset.x[shown]  # a store's: only these, fetched by reference
    pairs = render.side_by_side(originals, engine.reconstruct(originals))
    display.show_gallery(pairs, [f"{index_caption(dataset, i)} · {codes.errors[i]:.4f}" for i in shown], side=56)
    display.png_download(pairs, 8, "worst-reconstructed.png", key="worst")
