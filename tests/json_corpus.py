"""A generated corpus of pathological, valid-JSON documents made from one good document.

Used by the loader tests of every model source (hypothesis is not installed): each entry is
(a short label, the document as Python data, or as JSON text where Python data cannot
express it). Deterministic, a few hundred entries, built from these families:
each value anywhere replaced by each of a set of hostile values (wrong types, nulls, huge and
negative ints, NaN / infinities, empty and odd strings, lists for dicts and dicts for lists,
deep nesting); each key deleted; keys added (unicode, empty, NUL); the whole document replaced.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Iterator

DEEP = 50_000  # nesting levels: deeper than Python's recursion limit

HOSTILE_VALUES: list[tuple[str, Any]] = [
    ("null", None), ("true", True), ("false", False), ("zero", 0), ("minus-one", -1),
    ("huge-int", 2**64), ("giant-int", 10**400), ("min-int", -(2**63)), ("float", 1.5), ("big-float", 1e308),
    ("nan", float("nan")), ("inf", float("inf")), ("minus-inf", float("-inf")),
    ("empty-string", ""), ("string", "x"), ("unicode", "\u202e\U0001f600\x00"), ("long-string", "y" * 100_000),
    ("empty-list", []), ("list-of-null", [None]), ("nested-lists", [[[]]]), ("list-of-strings", ["a", "b", "c"]),
    ("list-of-huge", [2**62, 2**62, 2**62]), ("long-list", list(range(100_000))), ("empty-dict", {}),
    ("dict-of-null", {"": None}), ("dict", {"a": {"b": {"c": None}}}),
]


def _paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key path (dict keys and list indices) into ``doc``."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:4]):  # the first few items of a list stand for all of them
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _set(doc: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    doc = copy.deepcopy(doc)
    target = doc
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def _label(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def _deep_list_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def corpus(good: dict, values: list[tuple[str, Any]] | None = None) -> list[tuple[str, Any]]:
    """Entries (label, document); a document given as ``str`` is JSON text."""
    values = HOSTILE_VALUES if values is None else values
    entries: list[tuple[str, Any]] = []
    paths = list(_paths(good))
    for path in paths:
        for name, value in values:
            entries.append((f"{_label(path)}={name}", _set(good, path, value)))
        entries.append((f"{_label(path)} deleted", _set(good, path, None, delete=True)))
        current = _get(good, path)
        if isinstance(current, dict):
            entries.append((f"{_label(path)} as list of pairs", _set(good, path, [[k, v] for k, v in current.items()])))
        if isinstance(current, list):
            entries.append((f"{_label(path)} as dict", _set(good, path, {str(i): v for i, v in enumerate(current)})))
        entries.append((f"{_label(path)} deeply nested",
                        json.dumps(_set(good, path, "@@DEEP@@")).replace('"@@DEEP@@"', _deep_list_text(DEEP))))
        entries.append((f"{_label(path)} wrapped in a list", _set(good, path, [current])))
    for key in ("", "\x00", "\u00e9\u4e2d\U0001f600", "__proto__", "format " * 3, "a" * 10_000):
        entries.append((f"extra key {key[:12]!r}", {**good, key: 1}))
    for name, value in values:
        entries.append((f"<root>={name}", value))
    entries.append(("<root> deeply nested list", _deep_list_text(DEEP)))
    entries.append(("<root> deeply nested dict", '{"a":' * DEEP + "1" + "}" * DEEP))
    entries.append(("every value null", {k: None for k in good}))
    entries.append(("duplicate keys", json.dumps(good)[:-1] + ", " + json.dumps(good)[1:]))
    return entries


def _get(doc: Any, path: tuple) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def as_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def outcomes(path, write, entries) -> tuple[list[str], int]:
    """Write each corpus entry with ``write(document)`` and open ``path`` through open_model:
    (what escaped as anything but a CheckpointError with a message, how many loaded)."""
    from explorer.checkpoint import CheckpointError
    from explorer.sources import open_model
    from explorer.ui.model_card import card_lines

    escaped, loaded = [], 0
    for label, document in entries:
        write(document)
        try:
            model = open_model(path)
            card_lines(model)  # what the sidebar shows must not fail either
            model.training.figure("test_mse")
        except CheckpointError as e:
            if not str(e).strip():
                escaped.append(f"{label}: empty message")
            continue
        except BaseException as e:  # noqa: BLE001 - the point is that nothing else escapes
            escaped.append(f"{label}: {type(e).__name__}: {str(e)[:100]}")
            continue
        loaded += 1
    return escaped, loaded
