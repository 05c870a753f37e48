"""The checkpoints the sidebar offers, and one inference engine per checkpoint file, shared by
every session."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ..backend import InferenceEngine
from ..cache import file_signature
from ..checkpoint import CONFIG_NAME
from ..shipped import SHIPPED_DIR
from ..sources import open_user_model


@dataclass
class ShippedModel:
    name: str
    path: Path
    model_type: str
    latent_dim: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.model_type}, {self.latent_dim}-d)"


def shipped_models() -> list[ShippedModel]:
    """The checkpoints shipped in the repository, read from their configs without loading them."""
    models = []
    for folder in sorted(SHIPPED_DIR.glob("*/")):
        try:
            config = json.loads((folder / CONFIG_NAME).read_text())
            models.append(ShippedModel(folder.name, folder, config["model_type"], int(config["latent_dim"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a checkpoint folder; the loader would explain why if picked by path
    return models


def _release_engine(engine: InferenceEngine) -> None:
    engine.close()  # its coalescer's threads end; a session still holding it keeps working


@st.cache_resource(show_spinner=False, max_entries=32, on_release=_release_engine)
def _engine(path: str, signature: str) -> InferenceEngine:
    return InferenceEngine(open_user_model(path))


_signatures: dict[str, str] = {}  # the signature each path was last loaded with


def engine_for(path: Path) -> InferenceEngine:
    """The engine of the model at ``path``, shared by every session (raises CheckpointError).
    When the files on disk change, a new engine is made and the one of their previous version
    is released (closed) at once, so no session keeps using a stale model."""
    key, signature = str(path), file_signature(path)
    previous = _signatures.get(key)
    if previous is not None and previous != signature:
        _engine.clear(key, previous)
    engine = _engine(key, signature)
    _signatures[key] = signature
    return engine
