"""The native source: ``config.json`` + ``model.safetensors`` (``explorer/checkpoint.py``)."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from .. import checkpoint as ckpt
from ..model_contract import Model, TorchParts, TrainingRecord


class _Encoder(nn.Module):
    """An ``Autoencoder``'s encoder in the contract: a tuple (mean,) or (mean, logvar)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        enc = self.model.encode(x)
        return (enc.mean,) if enc.logvar is None else (enc.mean, enc.logvar)


class _Decoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, z):
        return self.model.decode(z)


class NativeModel(Model):
    kind = "native"

    def __init__(self, checkpoint: ckpt.Checkpoint):
        super().__init__()
        self.checkpoint = checkpoint
        self.module = checkpoint.model  # the Autoencoder, in eval mode
        self.config = checkpoint.config
        self.name = checkpoint.name
        self.path = checkpoint.path
        self.content_hash = checkpoint.content_hash
        self.input_shape = tuple(int(s) for s in self.module.input_shape)
        self.latent_dim = int(self.module.latent_dim)
        self.is_variational = bool(self.module.is_variational)
        self.model_type = self.config["model_type"]
        self.body = str(self.config["model"].get("body", "?"))
        record = self.config.get("dataset")
        record = record if isinstance(record, dict) else {}
        self.trained_on = record.get("name") if isinstance(record.get("name"), str) else None
        self.trained_preprocessing = record.get("preprocessing") if isinstance(record.get("preprocessing"), str) else None
        self.origin = f"native checkpoint {'folder' if self.path.is_dir() else 'file'} `{self.path.name}`"
        self.num_parameters = self.module.num_parameters()
        self.training = TrainingRecord.from_dict(self.config.get("training"))
        self._parts = TorchParts(_Encoder(self.module), _Decoder(self.module))

    def torch_parts(self) -> TorchParts:
        return self._parts


def open_native(path: str | Path) -> NativeModel:
    return NativeModel(ckpt.load(path))
