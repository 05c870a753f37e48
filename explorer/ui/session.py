"""The sidebar's choices for this session, and how every page starts from them."""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from ..data import Dataset
from ..engine import InferenceEngine

CONTEXT_KEY = "context"


@dataclass
class Context:
    engines: list[InferenceEngine]  # the picked checkpoints that loaded, first is active
    dataset: Dataset | None
    dataset_name: str
    errors: list[str] = field(default_factory=list)
    misfit: str | None = None  # why the active model does not take the dataset's images, if it does not

    @property
    def engine(self) -> InferenceEngine | None:
        return self.engines[0] if self.engines else None


def set_context(ctx: Context) -> None:
    st.session_state[CONTEXT_KEY] = ctx


def context() -> Context:
    return st.session_state[CONTEXT_KEY]


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
        st.info("Pick a dataset in the sidebar.")
        st.stop()
    if ctx.misfit:
        st.error(ctx.misfit)
        st.stop()
    return ctx.engine, ctx.dataset
