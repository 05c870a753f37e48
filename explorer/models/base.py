"""The autoencoder every model type derives from.

A variant overrides only what differs: how the code is produced (``encode``), what extra
loss terms it adds (``penalties``) or how the input is corrupted (``corrupt``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

BODIES = ("mlp", "conv")
RECON_LOSSES = ("mse", "bce", "mae", "gaussian")
# The calibrated Gaussian decoder's variance never drops below this (keeps log finite on a perfect fit).
MIN_GAUSSIAN_VARIANCE = 1e-6


@dataclass
class AEConfig:
    input_shape: list[int] = field(default_factory=lambda: [1, 28, 28])  # [C, H, W] of the data
    latent_dim: int = 16  # size of the code
    body: str = "mlp"  # "mlp" or "conv"
    hidden: list[int] = field(default_factory=lambda: [256, 128])  # MLP widths, input side first
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])  # conv widths per stride-2 stage
    conv_hidden: int = 0  # width of a linear layer between conv features and code (0: none)
    recon_loss: str = "mse"  # "mse", "bce", "mae" or "gaussian"; summed over pixels, averaged over the batch

    def __post_init__(self):
        if self.body not in BODIES:
            raise ValueError(f"body must be one of {BODIES}, got {self.body!r}")
        if self.recon_loss not in RECON_LOSSES:
            raise ValueError(f"recon_loss must be one of {RECON_LOSSES}, got {self.recon_loss!r}")
        if len(self.input_shape) != 3 or any(int(s) < 1 for s in self.input_shape):
            raise ValueError(f"input_shape must be [C, H, W] of positive sizes, got {self.input_shape}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {self.latent_dim}")
        if any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be positive, got {self.hidden}")
        if not self.channels or any(int(c) < 1 for c in self.channels):
            raise ValueError(f"channels must be a non-empty list of positive widths, got {self.channels}")
        if self.conv_hidden < 0:
            raise ValueError(f"conv_hidden must be 0 (none) or positive, got {self.conv_hidden}")


class Encoding(NamedTuple):
    z: torch.Tensor  # the code used downstream (the mean, for a VAE)
    mean: torch.Tensor
    logvar: torch.Tensor | None  # None for deterministic encoders


class Autoencoder(nn.Module):
    model_type: ClassVar[str] = ""
    config_class: ClassVar[type[AEConfig]] = AEConfig
    is_variational: ClassVar[bool] = False

    def __init__(self, config: AEConfig):
        super().__init__()
        self.config = config
        self.input_shape = tuple(int(s) for s in config.input_shape)
        self.latent_dim = config.latent_dim
        out_dim = self.encoder_out_dim()
        if config.body == "mlp":
            self.encoder = MLPEncoder(self.input_shape, config.hidden, out_dim)
            self.decoder = MLPDecoder(self.input_shape, config.hidden, config.latent_dim)
        else:
            self.encoder = ConvEncoder(self.input_shape, config.channels, config.conv_hidden, out_dim)
            self.decoder = ConvDecoder(self.input_shape, config.channels, config.conv_hidden, config.latent_dim)

    def encoder_out_dim(self) -> int:
        return self.latent_dim

    # --- the shared surface -------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Encoding:
        """Deterministic code of ``x``."""
        z = self.encoder(x)
        return Encoding(z=z, mean=z, logvar=None)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in the data's range [0, 1]."""
        return self.to_pixels(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x).z)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named loss terms for a batch; ``total`` is what training minimises."""
        encoding = self.encode(self.corrupt(x) if self.training else x)
        code = self.training_code(encoding)
        logits = self.decode_logits(code)
        terms = {"reconstruction": self.reconstruction_loss(logits, x)}
        terms.update(self.penalties(x, encoding))
        terms["total"] = sum(terms.values())
        with torch.no_grad():
            terms["mse"] = F.mse_loss(self.to_pixels(logits), x)
        return terms

    # --- what variants override ---------------------------------------------------------
    def to_pixels(self, logits: torch.Tensor) -> torch.Tensor:
        """The decoder's output as an image in [0, 1]."""
        return torch.sigmoid(logits)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def training_code(self, encoding: Encoding) -> torch.Tensor:
        return encoding.z

    def penalties(self, x: torch.Tensor, encoding: Encoding) -> dict[str, torch.Tensor]:
        return {}

    # --- helpers ------------------------------------------------------------------------
    def reconstruction_loss(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        kind = self.config.recon_loss
        if kind == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        elif kind == "mae":
            per_pixel = (torch.sigmoid(logits) - x).abs()
        elif kind == "gaussian":
            return self.calibrated_gaussian_nll(logits, x)
        else:
            per_pixel = (torch.sigmoid(logits) - x).pow(2)
        return per_pixel.flatten(1).sum(1).mean()

    @staticmethod
    def calibrated_gaussian_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Gaussian negative log-likelihood per image, with the variance set to the batch's MSE.

        That variance is the maximum-likelihood one (a "calibrated decoder", Rybkin et al. 2021),
        so the reconstruction term weighs itself against a VAE's KL term as the data's noise
        level warrants, instead of by a fixed sigma that MSE or BCE imply.
        """
        squared = (torch.sigmoid(logits) - x).pow(2)
        variance = squared.mean().clamp_min(MIN_GAUSSIAN_VARIANCE)
        pixels = squared[0].numel()
        return 0.5 * pixels * (torch.log(2 * torch.pi * variance) + 1)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
