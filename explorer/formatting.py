"""Figures as the app and the command line show them: a fixed number of decimals, and never
"-0.000". A score that rounds to zero at the shown precision (a k-means ARI of -0.0003) is
shown as 0.000, whichever side of zero it fell on."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd


def rounded(value: float, decimals: int) -> float:
    """``value`` rounded to ``decimals``, with a negative zero made positive (-0.0 + 0.0 is 0.0)."""
    return round(float(value), decimals) + 0.0


def fixed(value: float, decimals: int = 3) -> str:
    """"0.412", "0.000" for -0.0003."""
    return f"{rounded(value, decimals):.{decimals}f}"


def signed(value: float, decimals: int = 3) -> str:
    """A difference with its sign: "+0.094", "-0.012", and "±0.000" when it rounds to nothing."""
    value = rounded(value, decimals)
    return f"±{0:.{decimals}f}" if value == 0 else f"{value:+.{decimals}f}"


def tidy(table: pd.DataFrame, decimals: dict[str, int]) -> pd.DataFrame:
    """A copy of ``table`` whose named float columns are rounded to the decimals they are shown
    with, negative zeros made positive; missing values stay missing."""
    table = table.copy()
    for column, places in decimals.items():
        if column in table:
            values = pd.to_numeric(table[column], errors="coerce").astype(float)
            table[column] = np.round(values, places) + 0.0
    return table


def formatted(value: float, spec: str) -> str:
    """``value`` written with a format spec (".3f", ".2%", ",d"); a fixed-point one never writes
    a negative zero."""
    fixed_point = re.fullmatch(r"\.(\d+)f", spec)
    return fixed(value, int(fixed_point.group(1))) if fixed_point else format(value, spec)
