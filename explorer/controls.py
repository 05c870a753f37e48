"""Plain helpers behind the Interpolate, Sample, Arithmetic and Sliders pages: dataset indices
typed by a user and captions for them, the typical spacing of codes (the yardstick for a
sample's distance to its nearest training code), and slider bounds for latent dimensions.

Bad input raises ``ValueError`` with a message a user can act on.
"""
from __future__ import annotations

import re

import numpy as np
from sklearn.neighbors import NearestNeighbors

from .data import Dataset

INDEX_SEPARATORS = re.compile(r"[\s,;]+")
SLIDER_POSITIONS = 100  # a slider's range is cut into about this many steps
DEGENERATE_HALF_WIDTH = 0.5  # a dimension that never varies still gets a usable slider


def parse_indices(text: str, size: int, at_least: int = 1) -> list[int]:
    """Dataset indices typed as "3, 17, 42" (commas, semicolons or spaces), in the given order."""
    tokens = [t for t in INDEX_SEPARATORS.split(text.strip()) if t]
    if len(tokens) < at_least:
        wanted = "one or more dataset indices" if at_least == 1 else f"at least {at_least} dataset indices"
        raise ValueError(f"type {wanted} separated by commas, e.g. 3, 17, 42")
    indices = []
    for token in tokens:
        if not re.fullmatch(r"[+-]?\d+", token):
            raise ValueError(f"'{token}' is not a whole number: type dataset indices separated by commas, "
                             "e.g. 3, 17, 42")
        index = int(token)
        if not 0 <= index < size:
            raise ValueError(f"there is no image {index}: this dataset's images are numbered 0 to {size - 1}")
        indices.append(index)
    return indices


def index_caption(dataset: Dataset, index: int) -> str:
    """"#17 · 7": the dataset index and, when the dataset has labels, the class name."""
    if dataset.y is None or not dataset.classes:
        return f"#{index}"
    return f"#{index} · {dataset.classes[int(dataset.y[index])]}"


def evenly_spaced(items, k: int) -> list:
    """Up to ``k`` of ``items`` spread evenly from the first to the last. Datasets are sorted by
    label, so the first k of a large selection would often all be one class."""
    if len(items) == 0 or k < 1:
        return []
    picks = np.unique(np.linspace(0, len(items) - 1, min(len(items), k)).round().astype(int))
    return [items[p] for p in picks]


def typical_neighbour_distance(codes) -> float:
    """Median distance from a code to its nearest other code: the yardstick for how close a
    sample's nearest training code is."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"need at least two codes to measure their spacing, got shape {codes.shape}")
    distances, _ = NearestNeighbors(n_neighbors=2).fit(codes).kneighbors(codes)
    return float(np.median(distances[:, 1]))


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
