"""beta-TCVAE: the VAE's loss plus a weighted estimate of the code's total correlation."""
from __future__ import annotations

import math

import pytest
import torch

from explorer.models import build
from explorer.models.variants import total_correlation


def gaussian_posteriors(correlated: bool, n: int = 2000):
    """Posteriors N(mean_i, 1) with means ~ N(0, 9 I): q(z) is about N(0, 10 I), or, when the
    second mean copies the first, N(0, [[10, 9], [9, 10]]) with TC = -log(1 - 0.9^2) / 2."""
    g = torch.Generator().manual_seed(0)
    mean = 3 * torch.randn(n, 2, generator=g)
    if correlated:
        mean[:, 1] = mean[:, 0]
    logvar = torch.zeros(n, 2)
    return mean + torch.randn(n, 2, generator=g), mean, logvar


def test_total_correlation_estimate_is_zero_for_independent_and_known_for_correlated_codes():
    assert float(total_correlation(*gaussian_posteriors(False))) == pytest.approx(0, abs=0.05)
    assert float(total_correlation(*gaussian_posteriors(True))) == pytest.approx(-0.5 * math.log(1 - 0.81), abs=0.1)


def test_loss_is_the_vaes_plus_the_weighted_total_correlation(digits):
    x = torch.from_numpy(digits.x[:64])
    args = {"hidden": [32], "latent_dim": 4, "input_shape": [1, 8, 8]}
    torch.manual_seed(0)
    vae = build("vae", args).eval()
    torch.manual_seed(0)
    tcvae = build("beta_tcvae", {**args, "tc_weight": 3.0}).eval()
    with torch.no_grad():
        terms, plain = tcvae.loss(x), vae.loss(x)
        enc = tcvae.encode(x)
        assert torch.allclose(terms["kl"], plain["kl"]) and torch.allclose(terms["reconstruction"], plain["reconstruction"])
        assert torch.allclose(terms["tc"], 3.0 * total_correlation(enc.mean, enc.mean, enc.logvar))
        assert torch.allclose(terms["total"], plain["total"] + terms["tc"])
