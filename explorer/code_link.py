"""A latent code as a link holds it: the Sliders page writes the code its sliders hold into the
link ("0.1234,-1.5,…"), so a shared link opens on the same picture."""
from __future__ import annotations

import numpy as np

MAX_LINKED_DIMS = 128  # codes longer than this stay out of the link (it would not be shareable)


def code_text(code) -> str | None:
    """A code as the link holds it (6 significant digits), or None when it has more than
    MAX_LINKED_DIMS values."""
    code = np.asarray(code, dtype=np.float64).reshape(-1)
    if code.size > MAX_LINKED_DIMS:
        return None
    return ",".join(f"{v:.6g}" for v in code)


def code_from_text(text: str, size: int) -> np.ndarray | None:
    """The code a link holds, or None unless it is exactly ``size`` finite numbers."""
    parts = [p for p in str(text).split(",") if p.strip()]
    if len(parts) != size or size > MAX_LINKED_DIMS:
        return None
    try:
        code = np.array([float(p) for p in parts])
    except ValueError:
        return None
    return code if np.isfinite(code).all() else None
