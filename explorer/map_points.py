"""The map's points as plain data, whatever draws them: the map as a table, positions for the
manifold grid, each point's label, the points a chart selection names, and a selection summed up."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data import Dataset
from .engine import DatasetCodes

TABLE_MAX_ROWS = 200_000  # the map as CSV is built in memory on click: past this it is not offered
SUMMARY_CLASSES = 5  # the most frequent labels a selection's summary names

def map_table(coords: np.ndarray, codes: DatasetCodes, labels: list[str] | None = None) -> pd.DataFrame:
    """One row per image: dataset index, map position, label, reconstruction error and code."""
    table = pd.DataFrame({"index": np.arange(len(coords)), "x": coords[:, 0], "y": coords[:, 1]})
    if labels is not None:
        table["label"] = labels
    table["error"] = codes.errors
    width = len(str(codes.codes.shape[1] - 1))
    z = pd.DataFrame(codes.codes, columns=[f"z{i:0{width}d}" for i in range(codes.codes.shape[1])])
    return pd.concat([table, z], axis=1)


def manifold_positions(coords: np.ndarray, n: int, trim: float = 0.01) -> np.ndarray:
    """An n x n grid of map positions spanning the points (less ``trim`` of outliers at each
    end), row by row from the top, so tiled decodings read like the plot."""
    low = np.quantile(coords, trim, axis=0)
    high = np.quantile(coords, 1 - trim, axis=0)
    xs = np.linspace(low[0], high[0], n)
    ys = np.linspace(high[1], low[1], n)
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)


def indices_from_points(points: list[dict]) -> list[int]:
    """Dataset indices of selected chart points, which carry them as ``customdata``; points of
    other traces (an upload's marker, the manifold's frame) carry none and are left out."""
    found = set()
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            found.add(int(data))
    return sorted(found)


def point_labels(dataset: Dataset) -> list[str] | None:
    """Each point's class name, None for a dataset without labels."""
    if dataset.y is None or not dataset.classes:
        return None
    return [dataset.classes[k] for k in dataset.y]


def selection_summary(indices, errors: np.ndarray, labels: np.ndarray | None = None,
                      classes: list[str] | None = None) -> str:
    """A selection in one line, however large: its reconstruction errors (mean, median, 95th
    percentile, against the whole map's median) and its most frequent labels with their shares."""
    indices = np.asarray(indices, dtype=np.int64)
    if not len(indices):
        return ""
    chosen = errors[indices]
    text = (f"Reconstruction error: mean {chosen.mean():.4f}, median {np.median(chosen):.4f}, 95th percentile "
            f"{np.percentile(chosen, 95):.4f} (all points' median {np.median(errors):.4f}).")
    if labels is not None and classes:
        counts = np.bincount(labels[indices], minlength=len(classes))
        top = np.argsort(-counts, kind="stable")[:SUMMARY_CLASSES]
        shares = [f"{classes[k]} {counts[k] / len(indices):.0%}" for k in top if counts[k]]
        text += f" Labels: {', '.join(shares)}" + (", …" if np.count_nonzero(counts) > len(shares) else "") + "."
    return text
