"""PCA baselines, fitted once per dataset and size for every session."""
from __future__ import annotations

import streamlit as st

from ..data import Dataset
from ..metrics import PCABaseline, pca_fit_images


@st.cache_resource(show_spinner="Fitting the PCA baseline…", max_entries=16)
def _pca(dataset_identity: str, k: int, _dataset: Dataset) -> PCABaseline:
    return PCABaseline(k, pca_fit_images(_dataset))


def pca_baseline(dataset: Dataset, k: int) -> PCABaseline:
    """PCA with ``k`` components fitted on the training split (a sample of a large one)."""
    return _pca(dataset.identity, k, dataset)
