"""The autoencoder family. Each variant changes only what makes it that variant."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch.func import jacrev, vmap

from .base import AEConfig, Autoencoder, Encoding
from .registry import register


@register("ae")
class AE(Autoencoder):
    """Undercomplete autoencoder (MLP body by default)."""


@dataclass
class LinearAEConfig(AEConfig):
    hidden: list[int] = field(default_factory=list)  # none: one linear map each way
    recon_loss: str = "mse"

    def __post_init__(self):
        super().__post_init__()
        if self.body != "mlp" or self.hidden or self.recon_loss != "mse":
            raise ValueError("a linear autoencoder is one linear map each way trained with MSE: "
                             f"body 'mlp', hidden [], recon_loss 'mse' (got {self.body!r}, {self.hidden}, "
                             f"{self.recon_loss!r})")


@register("linear_ae")
class LinearAE(Autoencoder):
    """No nonlinearity, squared error: it learns the subspace PCA finds (Baldi & Hornik 1989)."""

    config_class = LinearAEConfig

    def to_pixels(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.clamp(0, 1)  # clipped for display, as the PCA baseline's reconstructions are

    def reconstruction_loss(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # on the unclipped output: the least-squares problem whose optimum is PCA's subspace
        return (logits - x).pow(2).flatten(1).sum(1).mean()


@dataclass
class ConvAEConfig(AEConfig):
    body: str = "conv"  # convolutional by default


@register("conv_ae")
class ConvAE(Autoencoder):
    """Undercomplete autoencoder with strided convolutions down and transposed ones up."""

    config_class = ConvAEConfig


@dataclass
class SparseAEConfig(AEConfig):
    sparsity: str = "l1"  # "l1" on the code, or "kl" to a target mean activation rho
    sparsity_weight: float = 1e-3  # weight of the sparsity term
    rho: float = 0.05  # target mean activation for "kl" (the code then passes a sigmoid)

    def __post_init__(self):
        super().__post_init__()
        if self.sparsity not in ("l1", "kl"):
            raise ValueError(f"sparsity must be 'l1' or 'kl', got {self.sparsity!r}")
        if not 0 < self.rho < 1:
            raise ValueError(f"rho must lie in (0, 1), got {self.rho}")


@register("sparse_ae")
class SparseAE(Autoencoder):
    config_class = SparseAEConfig

    def encode(self, x: torch.Tensor) -> Encoding:
        z = self.encoder(x)
        if self.config.sparsity == "kl":
            z = torch.sigmoid(z)
        return Encoding(z=z, mean=z, logvar=None)

    def penalties(self, x, encoding):
        z, cfg = encoding.z, self.config
        if cfg.sparsity == "l1":
            term = z.abs().sum(1).mean()
        else:
            rho_hat = z.mean(0).clamp(1e-6, 1 - 1e-6)
            term = (cfg.rho * torch.log(cfg.rho / rho_hat)
                    + (1 - cfg.rho) * torch.log((1 - cfg.rho) / (1 - rho_hat))).sum()
        return {"sparsity": cfg.sparsity_weight * term}


@dataclass
class DenoisingAEConfig(AEConfig):
    noise: str = "gaussian"  # "gaussian" (additive, clipped to [0, 1]) or "mask" (pixels set to 0)
    noise_level: float = 0.3  # std of the Gaussian noise, or the fraction of pixels masked

    def __post_init__(self):
        super().__post_init__()
        if self.noise not in ("gaussian", "mask"):
            raise ValueError(f"noise must be 'gaussian' or 'mask', got {self.noise!r}")
        if self.noise_level < 0:
            raise ValueError(f"noise_level must be non-negative, got {self.noise_level}")


def corrupt(x: torch.Tensor, noise: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian noise clipped to [0, 1], or a random fraction ``level`` of pixels set to 0."""
    if noise == "gaussian":
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + level * eps).clamp(0, 1)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= level
    return x * keep


@register("denoising_ae")
class DenoisingAE(Autoencoder):
    """Reconstructs the clean input from a corrupted one (corruption only while training)."""

    config_class = DenoisingAEConfig

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return corrupt(x, self.config.noise, self.config.noise_level)


@dataclass
class ContractiveAEConfig(AEConfig):
    contraction_weight: float = 1e-3  # weight of ||d code / d input||_F^2


@register("contractive_ae")
class ContractiveAE(Autoencoder):
    config_class = ContractiveAEConfig

    def penalties(self, x, encoding):
        def code_of_one(sample: torch.Tensor) -> torch.Tensor:
            return self.encoder(sample.unsqueeze(0)).squeeze(0)

        jacobian = vmap(jacrev(code_of_one))(x)  # (B, latent, C, H, W)
        frobenius = jacobian.pow(2).flatten(1).sum(1).mean()
        return {"contraction": self.config.contraction_weight * frobenius}


@dataclass
class VAEConfig(AEConfig):
    recon_loss: str = "bce"  # Bernoulli likelihood by default
    beta: float = 1.0  # weight of the KL term (1 for a plain VAE)
    logvar_clamp: float = 10.0  # log-variances are clamped to +-this for stability


@register("vae")
class VAE(Autoencoder):
    """Gaussian encoder, reparameterised sample while training, ELBO loss."""

    config_class = VAEConfig
    is_variational = True

    def encoder_out_dim(self) -> int:
        return 2 * self.latent_dim

    def encode(self, x: torch.Tensor) -> Encoding:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        logvar = logvar.clamp(-self.config.logvar_clamp, self.config.logvar_clamp)
        return Encoding(z=mean, mean=mean, logvar=logvar)

    def training_code(self, encoding: Encoding) -> torch.Tensor:
        if not self.training:
            return encoding.mean
        std = torch.exp(0.5 * encoding.logvar)
        return encoding.mean + std * torch.randn_like(std)

    def penalties(self, x, encoding):
        kl = kl_per_dimension(encoding.mean, encoding.logvar).sum(1).mean()
        return {"kl": self.config.beta * kl}


def kl_per_dimension(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) for each sample and dimension."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)


@dataclass
class BetaVAEConfig(VAEConfig):
    beta: float = 4.0  # > 1 favours disentangled, smoother codes


@register("beta_vae")
class BetaVAE(VAE):
    """A VAE whose KL term carries weight beta."""

    config_class = BetaVAEConfig


@dataclass
class BetaTCVAEConfig(VAEConfig):
    tc_weight: float = 5.0  # extra weight on the total correlation: the paper's beta is 1 + tc_weight


@register("beta_tcvae")
class BetaTCVAE(VAE):
    """A VAE that penalises the total correlation of its aggregate posterior (Chen et al. 2018).

    The KL term splits into index-code MI + total correlation + dimension-wise KL; weighting
    only the middle one by ``1 + tc_weight`` gives KL + tc_weight * TC. ``beta`` stays the
    KL's weight (1; what a warm-up ramps).
    """

    config_class = BetaTCVAEConfig

    def penalties(self, x, encoding):
        terms = super().penalties(x, encoding)
        z = self.training_code(encoding)  # a sample while training, the mean otherwise
        terms["tc"] = self.config.tc_weight * total_correlation(z, encoding.mean, encoding.logvar)
        return terms


def total_correlation(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Minibatch-weighted-sampling estimate of TC(q(z)) = KL(q(z) || prod_j q(z_j)).

    q(z) is estimated as the mixture of the batch's posteriors. Chen et al. weigh that mixture
    by the dataset's size N; doing so only adds the constant (D - 1) log(N / B), which carries
    no gradient, so the batch estimate trains the same and needs no N.
    """
    # log q(z_i | x_j) per dimension: (B, B, D)
    log_q = -0.5 * (math.log(2 * math.pi) + logvar[None] + (z[:, None] - mean[None]).pow(2) / logvar.exp()[None])
    log_qz = torch.logsumexp(log_q.sum(2), dim=1) - math.log(len(z))
    log_prod_qzj = (torch.logsumexp(log_q, dim=1) - math.log(len(z))).sum(1)
    return (log_qz - log_prod_qzj).mean()
