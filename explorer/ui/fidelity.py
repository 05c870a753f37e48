"""How far the map on screen can be trusted: trustworthiness, continuity and 10-NN recall of the
2-D positions against the codes, on a fixed sample, with a line saying what each one means."""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from explorer import quality


@st.cache_data(show_spinner="Measuring how faithful the map is…", max_entries=32)
def _fidelity(content_hash: str, coords_digest: str, _codes: np.ndarray, _coords: np.ndarray) -> quality.MapFidelity:
    return quality.map_fidelity(_codes, _coords)


def map_fidelity(content_hash: str, codes: np.ndarray, coords: np.ndarray) -> quality.MapFidelity:
    """Figures of this map of these codes, computed once per map."""
    digest = hashlib.sha256(np.ascontiguousarray(coords).tobytes()).hexdigest()
    return _fidelity(content_hash, digest, codes, coords)


def kept_per_point(fidelity: quality.MapFidelity, n: int) -> np.ndarray:
    """Each point's 10-NN recall, NaN for points outside the sample."""
    kept = np.full(n, np.nan)
    kept[fidelity.sample] = fidelity.recall_per_point
    return kept


def show_lines(fidelity: quality.MapFidelity) -> None:
    k, n = fidelity.k, len(fidelity.sample)
    st.markdown(
        f"- **Trustworthiness {fidelity.trustworthiness:.3f}**: points close on the map are close in the codes "
        f"(1 = no map neighbour is a stranger in the latent space).\n"
        f"- **Continuity {fidelity.continuity:.3f}**: points close in the codes stay close on the map "
        f"(1 = the map tears no neighbourhood apart).\n"
        f"- **{k}-NN recall {fidelity.recall:.3f}**: on average this share of each code's {k} nearest neighbours "
        f"are among its {k} nearest on the map; colour by *neighbourhood kept* to see where it tears.")
    st.caption(f"At k = {k}, on {'all' if n < quality.MAP_SAMPLE else 'a fixed sample of'} {n:,} points.")
