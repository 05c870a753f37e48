"""The models the sidebar offers (shipped checkpoints, and the Python adapters the server's
starter named with --model or $LATENT_EXPLORER_MODELS), and one inference engine per model,
shared by every session, the engines kept within a byte limit."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..engine import InferenceEngine
from ..cache import file_signature
from .. import settings
from ..checkpoint import read_config
from ..safe_read import CheckpointError
from ..shipped import SHIPPED_DIR
from ..sources import open_listed, open_user_model, source_kind


@dataclass
class ShippedModel:
    name: str
    path: Path
    model_type: str
    latent_dim: int
    input_shape: list  # [C, H, W]
    anomaly_class: int | None  # the class held out of its training, if one was


def shipped_models() -> list[ShippedModel]:
    """The checkpoints shipped in the repository, read from their configs without loading them."""
    models = []
    for folder in sorted(SHIPPED_DIR.glob("*/")):
        try:
            config = read_config(folder)
            held_out = config.get("training", {}).get("anomaly_class")
            models.append(ShippedModel(folder.name, folder, config["model_type"], int(config["latent_dim"]),
                                       list(config["input_shape"]), held_out if isinstance(held_out, int) else None))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a checkpoint folder; the loader would explain why if picked by path
    return models


def listed_models() -> dict[str, Path]:
    """Name -> path of every model in the sidebar's list: the shipped checkpoints, then the
    adapters named when the server was started (by file name; nothing runs until one is picked)."""
    models = {m.name: m.path for m in shipped_models()}
    for path in settings.read().models:
        name = path.stem if path.stem not in models else f"{path.stem} (adapter)"
        models[name] = path
    return models


ENGINE_MB_ENV = settings.ENV["engine_mb"]  # named in the refusal of a model larger than the limit
MAX_BOTTLENECK_CHARACTERS = 200  # a Keras layer name; a longer one is refused, not kept as a key


def engine_limit_bytes() -> int:
    return int(settings.read().engine_mb * 2**20)


@dataclass
class _Entry:
    signature: str  # the files' signature the engine was made from
    engine: InferenceEngine
    size: int  # its memory_bytes()


class EngineCache:
    """One engine per model for every session, kept within a byte limit: the least recently used
    are closed and dropped first (a session still holding one keeps working with it), and a model
    larger than the whole limit is refused. An engine whose files changed is replaced at once."""

    def __init__(self, limit_bytes: Callable[[], int] = engine_limit_bytes):
        self.limit_bytes = limit_bytes
        self._lock = threading.Lock()  # guards the entries; held only for bookkeeping
        self._building = threading.Lock()  # models are loaded one at a time (each takes the CPU anyway)
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()  # least recently used first

    def get(self, key: tuple, signature: str, make: Callable[[], InferenceEngine]) -> InferenceEngine:
        engine = self._hit(key, signature)
        if engine is not None:
            return engine
        with self._building:
            engine = self._hit(key, signature)  # made by another session meanwhile
            if engine is not None:
                return engine
            engine = make()
            size, limit = engine.memory_bytes(), self.limit_bytes()
            if size > limit:
                engine.close()
                raise CheckpointError(f"the model takes about {size / 2**20:,.0f} MB in memory, more than the "
                                      f"{limit / 2**20:,.0f} MB this server keeps for models ({ENGINE_MB_ENV})")
            with self._lock:
                released = [self._entries.pop(key)] if key in self._entries else []  # its files changed
                self._entries[key] = _Entry(signature, engine, size)
                used = sum(e.size for e in self._entries.values())
                for old_key in list(self._entries)[:-1]:  # least recently used first, never the new one
                    if used <= limit:
                        break
                    old = self._entries.pop(old_key)
                    used -= old.size
                    released.append(old)
        for old in released:
            old.engine.close()  # its coalescer's threads end; a session still holding it keeps working
        return engine

    def _hit(self, key: tuple, signature: str) -> InferenceEngine | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.signature != signature:
                return None
            self._entries.move_to_end(key)
            return entry.engine

    def used_bytes(self) -> int:
        with self._lock:
            return sum(e.size for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            entries, self._entries = list(self._entries.values()), OrderedDict()
        for entry in entries:
            entry.engine.close()


ENGINES = EngineCache()


def takes_bottleneck(path: Path) -> bool:
    """Only a one-file Keras autoencoder is split at a named layer; for any other model the
    bottleneck text changes nothing, so it is no part of the engine's key."""
    return not path.is_dir() and source_kind(path) == "keras"


def engine_for(path: Path, from_browser: bool = True, bottleneck: str = "") -> InferenceEngine:
    """The engine of the model at ``path``, shared by every session (raises CheckpointError).
    ``from_browser``: the path was typed or uploaded (a Python adapter is then refused).
    ``bottleneck``: for a one-file Keras autoencoder whose split is not evident (ignored for others).
    When the files on disk change, a new engine is made and the one of their previous version
    is released (closed) at once, so no session keeps using a stale model."""
    path = Path(path)
    bottleneck = bottleneck.strip() if takes_bottleneck(path) else ""
    if len(bottleneck) > MAX_BOTTLENECK_CHARACTERS:
        raise CheckpointError(f"the bottleneck layer's name is {len(bottleneck):,} characters long; a layer name "
                              f"here has at most {MAX_BOTTLENECK_CHARACTERS}")
    # From the browser (typed, uploaded) never a Python file; from the list, an adapter only
    # when the server's starter named it.
    opener = open_user_model if from_browser else open_listed
    return ENGINES.get((str(path), from_browser, bottleneck), file_signature(path),
                       lambda: InferenceEngine(opener(path, bottleneck=bottleneck or None)))
