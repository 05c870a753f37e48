"""Dataset indices as the pages handle them: typed by a user ("3, 17, 42"), captioned ("#17 · 7"),
and picked evenly from a long list.

Bad input raises ``ValueError`` with a message a user can act on.
"""
from __future__ import annotations

import re

import numpy as np

from .data import Dataset

INDEX_SEPARATORS = re.compile(r"[\s,;]+")


def parse_indices(text: str, size: int, at_least: int = 1) -> list[int]:
    """Dataset indices typed as "3, 17, 42" (commas, semicolons or spaces), in the given order."""
    tokens = [t for t in INDEX_SEPARATORS.split(text.strip()) if t]
    if len(tokens) < at_least:
        wanted = "one or more dataset indices" if at_least == 1 else f"at least {at_least} dataset indices"
        raise ValueError(f"type {wanted} separated by commas, e.g. 3, 17, 42")
    indices = []
    for token in tokens:
        shown = token if len(token) <= 20 else f"{token[:12]}… ({len(token):,} characters)"
        if not re.fullmatch(r"[+-]?\d+", token):
            raise ValueError(f"'{shown}' is not a whole number: type dataset indices separated by commas, "
                             "e.g. 3, 17, 42")
        if len(token.lstrip("+-").lstrip("0")) > len(str(size)):  # judged by its length before int() reads it
            raise ValueError(f"there is no image {shown}: this dataset's images are numbered 0 to {size - 1}")
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
