"""Slider bounds for latent dimensions: round steps, bounds widened to whole steps, the digits a
slider shows, and a code clipped into its sliders (the code as the link holds it: ``code_link``).

Bad input raises ``ValueError`` with a message a user can act on.
"""
from __future__ import annotations

import numpy as np

SLIDER_POSITIONS = 100  # a slider's range is cut into about this many steps
DEGENERATE_HALF_WIDTH = 0.5  # a dimension that never varies still gets a usable slider


def nice_step(width: float) -> float:
    """A step of 1, 2 or 5 times a power of ten that cuts ``width`` into about SLIDER_POSITIONS."""
    raw = width / SLIDER_POSITIONS
    power = 10.0 ** np.floor(np.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def slider_bounds(ranges) -> np.ndarray:
    """(D, 3) low, high and step of one slider per latent dimension from (D, 2) ranges.

    Bounds are widened outwards to whole steps so sliders show round numbers, and a range of
    zero width (a dimension the codes never move) is opened to +-DEGENERATE_HALF_WIDTH around
    its value, since a slider needs low < high.
    """
    ranges = np.asarray(ranges, dtype=np.float64)
    if ranges.ndim != 2 or ranges.shape[1] != 2 or not np.isfinite(ranges).all():
        raise ValueError(f"ranges must be a finite (D, 2) array of low/high bounds, got shape {ranges.shape}")
    if (ranges[:, 1] < ranges[:, 0]).any():
        raise ValueError("every range's low bound must not exceed its high bound")
    bounds = np.empty((len(ranges), 3))
    for row, (low, high) in enumerate(ranges):
        if high - low < 1e-9:
            low, high = low - DEGENERATE_HALF_WIDTH, high + DEGENERATE_HALF_WIDTH
        step = nice_step(high - low)
        # rounded so that float noise does not show as -3.0000000000000004
        bounds[row] = round(np.floor(low / step) * step, 10), round(np.ceil(high / step) * step, 10), step
    return bounds


def slider_decimals(step: float) -> int:
    """Digits a slider shows: one finer than its step, so a code near zero reads -0.03 rather
    than -0.0."""
    return max(0, int(-np.floor(np.log10(step)))) + 1


def slider_start(code, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The code clipped into the slider bounds, and which dimensions had to be clipped."""
    code = np.asarray(code, dtype=np.float64).reshape(-1)
    if code.size != len(bounds):
        raise ValueError(f"the code has {code.size} dimensions but there are {len(bounds)} sliders")
    start = np.clip(code, bounds[:, 0], bounds[:, 1])
    return start, start != code
