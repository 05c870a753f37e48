"""The map's points as plain data, whatever draws them: the map as a table, positions for the
manifold grid, each point's label, and the points a chart selection names."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data import Dataset
from .engine import DatasetCodes


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
