"""The map's points as plain data: the table, the manifold grid, chart selections."""
from __future__ import annotations

import numpy as np

from explorer import map_points
from explorer.engine import DatasetCodes


def test_map_table_has_one_row_per_image_with_code_columns():
    codes = DatasetCodes(np.arange(30, dtype=np.float32).reshape(3, 10), None, np.array([0.1, 0.2, 0.3]))
    table = map_points.map_table(np.zeros((3, 2)), codes, ["a", "b", "c"])
    assert list(table.columns[:5]) == ["index", "x", "y", "label", "error"]
    assert list(table.columns[5:]) == [f"z{i}" for i in range(10)]
    assert table["z9"].tolist() == [9.0, 19.0, 29.0]


def test_manifold_positions_cover_the_points_row_by_row_from_the_top():
    coords = np.array([[0.0, 0.0], [10.0, 4.0], [5.0, 2.0]])
    grid = map_points.manifold_positions(coords, 3, trim=0.0)
    assert grid.shape == (9, 2)
    assert grid[0].tolist() == [0.0, 4.0] and grid[2].tolist() == [10.0, 4.0] and grid[-1].tolist() == [10.0, 0.0]


def test_indices_from_points_reads_customdata_and_ignores_other_traces():
    points = [{"customdata": [5]}, {"customdata": 2}, {"customdata": [5]}, {"x": 1.0}, {"customdata": []}]
    assert map_points.indices_from_points(points) == [2, 5]
