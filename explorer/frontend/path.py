"""Interpolate's path played in the page (view-path.js): the waypoints and the method go to
the page, which walks the path with the same formulas as ``explorer.latent.path`` and decodes
each frame at display rate."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import mount
from .status import Decoding

KEY = "live-path"  # and the decoder's hash: a new decoder is a new instance


def waypoint_table(waypoints: np.ndarray) -> pd.DataFrame:
    """(K, D) codes -> one float64 column per dimension (z0, z1, …), one row per waypoint."""
    waypoints = np.asarray(waypoints, dtype=np.float64)
    return pd.DataFrame({f"z{d}": waypoints[:, d] for d in range(waypoints.shape[1])})


def play_path(decoding: Decoding, waypoints: np.ndarray, method: str, steps: int) -> None:
    mount("path", {"decoder": decoding.offer.spec(), "waypoints": waypoint_table(waypoints),
                   "method": method, "steps": int(steps)},
          key=f"{KEY}-{decoding.offer.sha256[:16]}")
