"""Compare's representation view: how useful each picked model's codes are for the labels,
beside PCA at the same sizes and raw pixels (figures cached on disk by model and data content)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from explorer import comparison, formatting, quality
from explorer.data import Dataset
from explorer.ui import baselines

FIGURES = {"knn_accuracy": "5-NN accuracy", "probe_10": "probe, 10 labels/class", "probe_100": "probe, 100 labels/class",
           "probe_all": "probe, all labels", "nmi": "k-means NMI", "ari": "k-means ARI"}


PIXELS_KEY = "representation_pixels"  # asked for the raw-pixel row of large images


def quality_rows(engines, dataset: Dataset, pixels: bool) -> list[dict]:
    """One row per picked model that fits the dataset, then PCA at each of their sizes (the
    fit the reconstructions use), then pixels when ``pixels``. Only the sampled images are
    encoded, and only when a model's figures are not cached."""
    engines = comparison.distinct(engines)
    models = [(name, engine.latent_dim, engine.source.content_hash, lambda idx, e=engine: e.encode(dataset.x[idx]))
              for engine, name in zip(engines, comparison.display_names(engines))
              if list(engine.input_shape) == dataset.input_shape]
    return quality.comparison_rows(models, dataset, pixels, lambda k: baselines.pca_baseline(dataset, k))


def ask_for_pixels(dataset_identity: str) -> None:
    st.session_state[PIXELS_KEY] = dataset_identity


def show(engines, dataset: Dataset) -> None:
    if dataset.y is None:
        st.info("This dataset has no labels: representation quality is measured against them.")
        return
    train, test = quality.quality_splits(dataset)
    sample = (f"all {len(train):,} training and {len(test):,} test images" if len(train) == len(dataset.train_idx)
              and len(test) == len(dataset.test_idx) else
              f"a seeded sample of {len(train):,} training and {len(test):,} test images")
    st.caption(f"On {sample}: the label accuracy of 5 nearest training codes; a logistic regression on "
               "standardised codes trained with 10, 100 or all labels per class (how far a few labels go on top of "
               "the codes); k-means with one cluster per class scored against the labels (NMI, ARI). A model worth "
               "its training beats PCA of the same size, and pixels, on these. Figures are kept by model and data "
               "content: a second visit reads them back.")
    on_request = quality.pixels_on_request(dataset)
    pixels = not on_request or st.session_state.get(PIXELS_KEY) == dataset.identity
    with st.spinner("Measuring the representations (once per model and dataset)…"):
        rows = quality_rows(engines, dataset, pixels)
    if not any(list(engine.input_shape) == dataset.input_shape for engine in engines):
        st.warning("None of the picked checkpoints fits this dataset's images; only the baselines are shown.")
    if not pixels:
        values = int(np.prod(dataset.input_shape))
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.caption(f"Raw pixels ({values:,} values per image) are measured when asked for: their probes and "
                     "k-means took 45 s on 2 cores for 64×64 colour images, once per dataset (then kept for every "
                     "visit).")
        right.button("Measure raw pixels", on_click=ask_for_pixels, args=(dataset.identity,), key="measure_pixels")
    table = formatting.tidy(pd.DataFrame(rows), dict.fromkeys(FIGURES, 3)).rename(columns=FIGURES)
    st.dataframe(table, hide_index=True,
                 column_config={name: st.column_config.NumberColumn(format="%.3f") for name in FIGURES.values()})
    long = table.melt(id_vars=["representation", "code size"], var_name="figure", value_name="score")
    chart = px.bar(long, x="figure", y="score", color="representation", barmode="group", range_y=[0, 1],
                   title="Representation quality (test split)")
    chart.update_layout(height=420, margin=dict(l=10, r=10, t=50, b=10), xaxis_title=None)
    st.plotly_chart(chart, key="representation-chart")
