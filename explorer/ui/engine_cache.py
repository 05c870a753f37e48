"""The models the sidebar offers (shipped checkpoints, and the Python adapters the server's
starter named with --model or $LATENT_EXPLORER_MODELS), and one inference engine per model,
shared by every session."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ..engine import InferenceEngine
from ..cache import file_signature
from .. import settings
from ..checkpoint import read_config
from ..shipped import SHIPPED_DIR
from ..sources import open_listed, open_user_model


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


def _release_engine(engine: InferenceEngine) -> None:
    engine.close()  # its coalescer's threads end; a session still holding it keeps working


@st.cache_resource(show_spinner=False, max_entries=32, on_release=_release_engine)
def _engine(path: str, signature: str, from_browser: bool = True, bottleneck: str = "") -> InferenceEngine:
    # From the browser (typed, uploaded) never a Python file; from the list, an adapter only
    # when the server's starter named it.
    opener = open_user_model if from_browser else open_listed
    return InferenceEngine(opener(path, bottleneck=bottleneck or None))


_signatures: dict[tuple, str] = {}  # the signature each path was last loaded with


def engine_for(path: Path, from_browser: bool = True, bottleneck: str = "") -> InferenceEngine:
    """The engine of the model at ``path``, shared by every session (raises CheckpointError).
    ``from_browser``: the path was typed or uploaded (a Python adapter is then refused).
    ``bottleneck``: for a one-file Keras autoencoder whose split is not evident.
    When the files on disk change, a new engine is made and the one of their previous version
    is released (closed) at once, so no session keeps using a stale model."""
    key, signature = str(path), file_signature(path)
    options = (from_browser, bottleneck.strip())
    previous = _signatures.get((key, options))
    if previous is not None and previous != signature:
        _engine.clear(key, previous, *options)
    engine = _engine(key, signature, *options)
    _signatures[(key, options)] = signature
    return engine
