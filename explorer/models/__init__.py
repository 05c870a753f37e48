"""The autoencoder family: the base ``Autoencoder`` every type derives from, the registry of
types (``registry``: ``MODEL_TYPES``, ``register``, ``build``) and the variants, which register
themselves when imported here.
"""
from __future__ import annotations

from . import variants  # noqa: F401  (importing the variants registers them)
from .base import AEConfig, Autoencoder, Encoding
from .registry import MODEL_TYPES, build, config_fields, register

__all__ = ["Autoencoder", "AEConfig", "Encoding", "MODEL_TYPES", "register", "build", "config_fields"]
