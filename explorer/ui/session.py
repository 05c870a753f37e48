"""The sidebar's choices for this session, and how every page starts from them."""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from ..data import Dataset
from ..engine import InferenceEngine
from ..store_dataset import StoreDataset

CONTEXT_KEY = "context"


@dataclass
class Context:
    engines: list[InferenceEngine]  # the picked checkpoints that loaded, first is active
    dataset: Dataset | None
    dataset_name: str
    errors: list[str] = field(default_factory=list)
    misfit: str | None = None  # why the active model does not take the dataset's images, if it does not
    own_model: bool = False  # the active model is one of your own (typed or uploaded), not from the list

    @property
    def engine(self) -> InferenceEngine | None:
        return self.engines[0] if self.engines else None


def dataset_missing(ctx: Context) -> str:
    """Why there is no dataset: none given yet, or the one given could not be opened."""
    if ctx.dataset_name.strip():
        return "The dataset picked in the sidebar could not be opened: the sidebar says why."
    return "Pick a dataset in the sidebar: type the path of a folder of images or an .npz file."


def set_context(ctx: Context) -> None:
    st.session_state[CONTEXT_KEY] = ctx


def context() -> Context:
    return st.session_state[CONTEXT_KEY]


def stop_on_store(dataset: Dataset | None, why: str) -> None:
    """A page that cannot work on a store says ``why`` and stops there."""
    if isinstance(dataset, StoreDataset):
        st.info(why)
        st.stop()


def page_start(title: str, caption: str | None = None) -> tuple[InferenceEngine, Dataset]:
    """A page's title and caption, then its engine and dataset; when either is missing or they
    do not fit each other, the page says so and stops."""
    st.title(title)
    if caption:
        st.caption(caption)
    ctx = context()
    if ctx.engine is None:
        st.info("Pick a checkpoint in the sidebar to start.")
        st.stop()
    if ctx.dataset is None:
        st.info(dataset_missing(ctx))
        st.stop()
    if ctx.misfit:
        st.error(ctx.misfit)
        st.stop()
    return ctx.engine, ctx.dataset
