"""Registry of the autoencoder family.

Each model type is a class decorated with ``@register("name")``; its ``config_class`` is a
dataclass holding the constructor's arguments, which is what a checkpoint stores.
"""
from __future__ import annotations

import dataclasses

from .base import Autoencoder, AEConfig, Encoding

MODEL_TYPES: dict[str, type[Autoencoder]] = {}


def register(name: str):
    def wrap(cls: type[Autoencoder]) -> type[Autoencoder]:
        if name in MODEL_TYPES:
            raise ValueError(f"model type {name!r} registered twice")
        cls.model_type = name
        MODEL_TYPES[name] = cls
        return cls

    return wrap


def build(model_type: str, config: AEConfig | dict) -> Autoencoder:
    """The one way a model is made: by its registry key, from its config or the config's fields
    (unknown fields raise TypeError)."""
    cls = MODEL_TYPES[model_type]
    if isinstance(config, dict):
        config = cls.config_class(**config)
    return cls(config)


def config_fields(model_type: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(MODEL_TYPES[model_type].config_class)}


# Importing the variants registers them.
from . import variants  # noqa: E402,F401

__all__ = ["Autoencoder", "AEConfig", "Encoding", "MODEL_TYPES", "register", "build", "config_fields"]
