"""Compare's representation view: how useful each picked model's codes are for the labels,
beside PCA at the same sizes and raw pixels (figures cached on disk with the encodings)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from explorer import comparison, formatting, quality
from explorer.data import Dataset
from explorer.ui import dataset_cache

FIGURES = {"knn_accuracy": "5-NN accuracy", "probe_10": "probe, 10 labels/class", "probe_100": "probe, 100 labels/class",
           "probe_all": "probe, all labels", "nmi": "k-means NMI", "ari": "k-means ARI"}


def quality_rows(engines, dataset: Dataset) -> list[dict]:
    """One row per picked model that fits the dataset, then PCA at each of their sizes, then pixels."""
    rows, sizes = [], set()
    engines = comparison.distinct(engines)
    for engine, name in zip(engines, comparison.display_names(engines)):
        if list(engine.input_shape) != dataset.input_shape:
            continue
        codes = dataset_cache.dataset_codes(engine, dataset).codes
        figures = quality.model_quality(engine.source.content_hash, dataset, codes)
        rows.append({"representation": name, "code size": engine.latent_dim, **figures.as_dict()})
        sizes.add(engine.latent_dim)
    for k in sorted(sizes):
        rows.append({"representation": f"PCA (k={k})", "code size": k, **quality.pca_quality(dataset, k).as_dict()})
    pixels = quality.pixel_quality(dataset).as_dict()
    rows.append({"representation": "raw pixels", "code size": int(np.prod(dataset.input_shape)), **pixels})
    return rows


def show(engines, dataset: Dataset) -> None:
    st.caption("On the held-out test split, seeded: the label accuracy of 5 nearest training codes; a logistic "
               "regression on standardised codes trained with 10, 100 or all labels per class (how far a few labels "
               "go on top of the codes); k-means with one cluster per class scored against the labels (NMI, ARI). "
               "A model worth its training beats PCA of the same size, and pixels, on these.")
    if dataset.y is None:
        st.info("This dataset has no labels: representation quality is measured against them.")
        return
    with st.spinner("Measuring the representations (once per model and dataset)…"):
        rows = quality_rows(engines, dataset)
    if len(rows) == 1:
        st.warning("None of the picked checkpoints fits this dataset's images; only the pixel baseline is shown.")
    table = formatting.tidy(pd.DataFrame(rows), dict.fromkeys(FIGURES, 3)).rename(columns=FIGURES)
    st.dataframe(table, hide_index=True,
                 column_config={name: st.column_config.NumberColumn(format="%.3f") for name in FIGURES.values()})
    long = table.melt(id_vars=["representation", "code size"], var_name="figure", value_name="score")
    chart = px.bar(long, x="figure", y="score", color="representation", barmode="group", range_y=[0, 1],
                   title="Representation quality (test split)")
    chart.update_layout(height=420, margin=dict(l=10, r=10, t=50, b=10), xaxis_title=None)
    st.plotly_chart(chart, key="representation-chart")
