"""Reading what a user supplied, safely: files within a size bound, JSON that is an object of
bounded depth, and the one error type every model source raises (``CheckpointError``).

The bottom of the model sources: the native checkpoint reader and every source in
``explorer.sources`` read their files through here, and it imports nothing of theirs.
"""
from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

MAX_JSON_DEPTH = 32  # a config is 3 or 4 levels deep; deeper ones are refused before anything walks them


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says what is wrong and where."""


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; a larger one is refused unread."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise CheckpointError(f"{path.name}: not a regular file")
        size = info.st_size
        if size > limit:
            raise CheckpointError(f"{path.name}: {size / 2**20:.0f} MB is larger than the {limit // 2**20} MB allowed")
        with path.open("rb") as f:
            data = f.read(limit + 1)  # a file that grew after the size check is still held to the limit
        if len(data) > limit:
            raise CheckpointError(f"{path.name}: larger than the {limit // 2**20} MB allowed")
        return data
    except OSError as e:
        raise CheckpointError(f"{path.name}: cannot be read ({e.strerror or e})") from None


def parse_config_text(text: str, what: str) -> dict:
    """A JSON object of bounded depth from untrusted text (``what`` names it in messages)."""
    if not isinstance(text, str):
        raise CheckpointError(f"{what}: the config must be JSON text, got {type(text).__name__}")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{what}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise CheckpointError(f"{what}: the JSON is nested too deeply") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{what}: must be a JSON object, got {json_type(config)}")
    if json_depth(config) > MAX_JSON_DEPTH:
        raise CheckpointError(f"{what}: the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    return config


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
