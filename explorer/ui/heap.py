"""Keeping long-lived objects out of the garbage collection Streamlit runs after every run."""
from __future__ import annotations

import gc

import streamlit as st


def freeze_heap() -> None:
    """Put every object alive now out of the cyclic garbage collector's reach (``gc.freeze``).

    Streamlit runs a full collection after every script run (``runner.postScriptGC``) and holds
    the GIL throughout, so the server sends nothing meanwhile. With torch, scikit-learn and plotly
    loaded that walked 310,000 objects (160 ms), 450,000 once umap's numba code was compiled
    (330 ms, more on busy cores): on the Sliders page the decoded image reached the browser a
    quarter of a second after the sliders. Those objects live as long as the server; frozen, the
    collection after a run walks only what was made since. Objects frozen are still freed when
    their reference count drops; only a cycle among them would outlive its use, so call this at
    a few points of a server's life (start, after warm-up), not on every run."""
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def freeze_startup_heap() -> bool:
    """``freeze_heap`` once per server, after the first run has loaded the libraries."""
    freeze_heap()
    return True
