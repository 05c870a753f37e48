"""Sliders in the page (view-sliders.js): the rows it draws, and the values it sends back.

The page decodes every step of a drag itself; Python hears the values when a slider is let
go, on Reset and when playback stops, through ``on_release``.
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from .. import slider_bounds
from . import mount
from .status import Decoding

KEY = "live-sliders"  # the instances' keys start with it
TOP = 8  # sliders shown at once; the rest wait in a <details>, as the server path's expander


def slider_rows(bounds: np.ndarray, order: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """One row per slider in the order shown (most important first): its dimension, bounds,
    step, the decimals it shows and its label. Sent to the page as one Arrow table."""
    order = np.asarray(order, dtype=np.int64)
    steps = bounds[order, 2]
    return pd.DataFrame({
        "dim": order.astype(np.int32),
        "low": bounds[order, 0], "high": bounds[order, 1], "step": steps,
        "decimals": np.array([slider_bounds.slider_decimals(s) for s in steps], dtype=np.int32),
        "label": [f"z{d} · {labels[d]}" for d in order],
    })


def released_values(state: object, bounds: np.ndarray) -> np.ndarray | None:
    """The values the page sent (untrusted JSON) as a code within the slider bounds, or None
    when they are not one value per dimension, all finite numbers."""
    sent = state.get("values") if isinstance(state, dict) else None
    z = sent.get("z") if isinstance(sent, dict) else None
    if not isinstance(z, list) or len(z) != len(bounds):
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in z):
        return None
    values = np.asarray(z, dtype=np.float64)
    if not np.isfinite(values).all():
        return None
    return np.clip(values, bounds[:, 0], bounds[:, 1])


def live_sliders(decoding: Decoding, rows: pd.DataFrame, values: np.ndarray, start: np.ndarray, revision: int,
                 bounds: np.ndarray, on_release: Callable[[np.ndarray], None]) -> None:
    """The sliders and their picture, drawn and decoded in the page. ``revision`` changes when
    the server sets the values (a new start code): the page then takes ``values``."""

    # A new decoder or new sliders (another model, other ranges) is a new instance: the page builds
    # its panel and picture once per instance.
    key = f"{KEY}-{hashlib.sha256((decoding.offer.sha256 + rows.to_json()).encode()).hexdigest()[:16]}"

    def released() -> None:
        code = released_values(st.session_state.get(key), bounds)
        if code is not None:
            on_release(code)

    mount("sliders", {"decoder": decoding.offer.spec(), "rows": rows,
                      "values": [float(v) for v in values], "start": [float(v) for v in start],
                      "revision": int(revision), "top": TOP},
          key=key, on_values_change=released)
