"""The registry of model types: ``@register("name")`` on a class makes it a type a checkpoint
can name, and ``build`` is the one way a model is made from its type and config.

Model files import ``register`` from here; the package imports the model files, which
registers them (timm keeps its registry the same way).
"""
from __future__ import annotations

import dataclasses

from .base import AEConfig, Autoencoder

MODEL_TYPES: dict[str, type[Autoencoder]] = {}


def register(name: str):
    """Class decorator: the model type ``name``, the key a checkpoint records."""
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
