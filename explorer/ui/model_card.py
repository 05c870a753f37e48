"""The active model's card in the sidebar, built from the model's fields and the engine's
description of the device and runtime that run it."""
from __future__ import annotations

import streamlit as st

from ..engine import InferenceEngine
from ..model_contract import Model


def card_lines(model: Model, runs_on: str = "CPU") -> list[str]:
    """Markdown lines: what the model is, where it came from, what was assumed, what runs it, and
    its recorded test figures."""
    variational = " · variational" if model.is_variational else ""
    if model.body:
        first = f"type `{model.model_type}` · body `{model.body}` · latent **{model.latent_dim}**{variational}"
    else:
        c, h, w = model.input_shape
        first = f"type `{model.model_type or model.kind}` · latent **{model.latent_dim}** · input {c}×{h}×{w}{variational}"
    params = f"{model.num_parameters:,} parameters · " if model.num_parameters else ""
    t = model.training
    return [first, f"{params}runs on {runs_on}", f"source: {model.origin or model.kind}",
            *[f"assumed: {note}" for note in model.inferred],
            f"test MSE {t.figure('test_mse')} (PCA at the same size: {t.figure('pca_mse')})"]


def show(engine: InferenceEngine) -> None:
    with st.sidebar.container(border=True):
        st.markdown(f"**{engine.source.name}**")
        st.caption("  \n".join(card_lines(engine.source, engine.describe_device())))
