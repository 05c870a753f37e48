"""The contract every registered model type keeps, and the behaviour of each variant's extra."""
from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F

from explorer import checkpoint
from explorer.models import MODEL_TYPES, build, register
from explorer.models.base import BODIES, RECON_LOSSES, Encoding
from explorer.models.variants import corrupt, kl_per_dimension

SHAPES = ([1, 8, 8], [1, 28, 28], [3, 20, 12])
LATENT = 4
# Loss terms besides reconstruction / total / mse, for the types that exist today. A new type
# not listed here is still held to the shared contract (and to "kl" if it is variational).
EXTRA_TERMS = {
    "ae": set(), "conv_ae": set(), "denoising_ae": set(),
    "sparse_ae": {"sparsity"}, "contractive_ae": {"contraction"},
    "vae": {"kl"}, "beta_vae": {"kl"}, "linear_ae": set(),
}
# Types built only from some arguments: a linear autoencoder has no hidden layers and no conv body.
REQUIRED_ARGS = {"linear_ae": {"hidden": []}}
MLP_ONLY = {"linear_ae"}
CASES = [
    pytest.param(model_type, body, shape, id=f"{model_type}-{body}-{'x'.join(map(str, shape))}")
    for model_type in sorted(MODEL_TYPES)
    for body in BODIES
    for shape in SHAPES
    if shape != [3, 20, 12] or body == "conv"  # the odd, multi-channel shape exercises conv padding
    if body == "mlp" or model_type not in MLP_ONLY
]


def tiny(model_type: str, body: str = "mlp", shape=(1, 8, 8), **extra):
    torch.manual_seed(0)
    args = {"body": body, "hidden": [32], "channels": [8, 16], "latent_dim": LATENT, "input_shape": list(shape)}
    return build(model_type, {**args, **REQUIRED_ARGS.get(model_type, {}), **extra})


def images(shape, n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model_type, body, shape", CASES)
def test_model_contract(model_type, body, shape, digits, tmp_path):
    model = tiny(model_type, body, shape)
    cls = MODEL_TYPES[model_type]
    assert isinstance(model, cls) and model.model_type == model_type
    x = torch.from_numpy(digits.x[digits.train_idx[:64]]) if shape == [1, 8, 8] else images(shape, 16)
    b = len(x)

    # encode / decode / forward shapes and ranges, deterministic in eval mode
    model.eval()
    with torch.no_grad():
        enc = model.encode(x)
        assert isinstance(enc, Encoding)
        assert enc.z.shape == (b, LATENT) and enc.mean.shape == (b, LATENT)
        if cls.is_variational:
            assert enc.logvar is not None and enc.logvar.shape == (b, LATENT)
            assert torch.equal(enc.z, enc.mean)  # downstream code uses the mean
        else:
            assert enc.logvar is None
        assert torch.equal(model.encode(x).z, enc.z)
        z = 10 * torch.randn(b, LATENT, generator=torch.Generator().manual_seed(1))  # far from the data
        out = model.decode(z)
        assert out.shape == (b, *shape)
        assert out.min() >= 0 and out.max() <= 1
        recon = model(x)
        assert recon.shape == x.shape
        assert torch.equal(model(x), recon)

        # loss terms: finite scalars, total = sum of the named terms (mse is a report only)
        terms = model.loss(x)
        extra = EXTRA_TERMS.get(model_type, {"kl"} if cls.is_variational else set())
        required = {"reconstruction", "total", "mse"} | extra
        if model_type in EXTRA_TERMS:
            assert set(terms) == required
        else:
            assert required <= set(terms)
        for name, value in terms.items():
            assert value.dim() == 0 and torch.isfinite(value), name
        parts = sum(v for k, v in terms.items() if k not in ("total", "mse"))
        assert torch.allclose(terms["total"], parts, rtol=1e-6, atol=1e-6)
        assert torch.allclose(terms["mse"], F.mse_loss(recon, x), rtol=1e-5)
        assert torch.equal(model.loss(x)["total"], terms["total"])  # no noise in eval mode

    # a few optimiser steps on a fixed digits batch lower the (noise-free, eval-mode) objective
    if shape == [1, 8, 8]:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        torch.manual_seed(0)
        for _ in range(30):
            model.train()
            loss = model.loss(x)["total"]
            opt.zero_grad()
            loss.backward()
            assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
            opt.step()
        model.eval()
        with torch.no_grad():
            after = model.loss(x)
        assert after["total"] < 0.9 * terms["total"], (float(terms["total"]), float(after["total"]))
        assert after["mse"] < 0.9 * terms["mse"]

    # save -> load gives the same model, bit for bit; so does the single-file form
    model.eval()
    folder = checkpoint.save(model, tmp_path / "ckpt", {"name": "t"})
    single = tmp_path / "single.safetensors"
    shutil.copy(folder / checkpoint.WEIGHTS_NAME, single)
    with torch.no_grad():
        want_z, want_out = model.encode(x).z, model.decode(z)
        for path in (folder, single):
            loaded = checkpoint.load(path)
            assert type(loaded.model) is cls and not loaded.model.training
            assert loaded.config["model_type"] == model_type
            assert loaded.config["input_shape"] == list(shape) and loaded.config["latent_dim"] == LATENT
            assert torch.equal(loaded.model.encode(x).z, want_z)
            assert torch.equal(loaded.model.decode(z), want_out)
            if cls.is_variational:
                assert torch.equal(loaded.model.encode(x).logvar, model.encode(x).logvar)


def test_registry_holds_the_family_and_refuses_duplicates():
    assert set(EXTRA_TERMS) <= set(MODEL_TYPES)
    assert MODEL_TYPES["conv_ae"].config_class().body == "conv"
    with pytest.raises(ValueError, match="registered twice"):
        register("ae")(type("Other", (MODEL_TYPES["ae"],), {}))


def test_reconstruction_losses_follow_their_formulas(digits):
    x = torch.from_numpy(digits.x[:32])
    values = {}
    for kind in RECON_LOSSES:
        model = tiny("ae", recon_loss=kind).eval()  # same seed: same weights for each kind
        with torch.no_grad():
            logits = model.decode_logits(model.encode(x).z)
            got = model.loss(x)["reconstruction"]
        p = torch.sigmoid(logits)
        if kind == "gaussian":  # N(p, sigma^2) per pixel with sigma^2 the batch's MSE
            variance = float(((p - x) ** 2).mean())
            nll = torch.distributions.Normal(p, variance ** 0.5).log_prob(x).neg()
            assert torch.allclose(got, nll.sum((1, 2, 3)).mean(), rtol=1e-4)
        else:
            per_pixel = {"mse": (p - x) ** 2, "mae": (p - x).abs(),
                         "bce": F.binary_cross_entropy(p, x, reduction="none")}[kind]
            assert torch.allclose(got, per_pixel.sum((1, 2, 3)).mean(), rtol=1e-4)
        values[kind] = float(got)
        # and it trains: gradients flow and are finite
        model.train()
        model.loss(x)["total"].backward()
        assert all(torch.isfinite(prm.grad).all() and prm.grad.abs().sum() > 0 for prm in model.parameters())
    assert len(set(values.values())) == len(RECON_LOSSES)  # the setting is not ignored
    assert MODEL_TYPES["vae"].config_class().recon_loss == "bce"
    with pytest.raises(ValueError, match="recon_loss"):
        tiny("ae", recon_loss="huber")


def test_sparse_l1_and_kl_penalties(digits):
    x = torch.from_numpy(digits.x[:32])
    l1 = tiny("sparse_ae", sparsity="l1", sparsity_weight=0.5).eval()
    with torch.no_grad():
        z = l1.encoder(x)
        assert torch.allclose(l1.loss(x)["sparsity"], 0.5 * z.abs().sum(1).mean())

    kl = tiny("sparse_ae", sparsity="kl", sparsity_weight=0.5, rho=0.1).eval()
    with torch.no_grad():
        code = kl.encode(x).z
        assert torch.allclose(code, torch.sigmoid(kl.encoder(x)))  # the code passes a sigmoid
        assert code.min() > 0 and code.max() < 1
        rho_hat = code.mean(0)
        want = (0.1 * torch.log(0.1 / rho_hat) + 0.9 * torch.log(0.9 / (1 - rho_hat))).sum()
        assert torch.allclose(kl.loss(x)["sparsity"], 0.5 * want, rtol=1e-5)
        on_target = Encoding(z=torch.full((8, LATENT), 0.1), mean=torch.full((8, LATENT), 0.1), logvar=None)
        assert float(kl.penalties(x[:8], on_target)["sparsity"]) == pytest.approx(0, abs=1e-6)
        off_target = Encoding(z=torch.full((8, LATENT), 0.5), mean=torch.full((8, LATENT), 0.5), logvar=None)
        assert float(kl.penalties(x[:8], off_target)["sparsity"]) > 0.1
    with pytest.raises(ValueError, match="rho"):
        tiny("sparse_ae", sparsity="kl", rho=1.5)


def test_corruption_noise_kinds():
    x = torch.ones(20, 1, 28, 28) * 0.5
    masked = corrupt(x, "mask", 0.25, torch.Generator().manual_seed(0))
    dropped = masked == 0
    assert 0.22 < dropped.float().mean() < 0.28
    assert torch.equal(masked[~dropped], x[~dropped])  # kept pixels are untouched
    noisy = corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, x)
    assert 0.2 < (noisy - x).std() < 0.3  # std 0.3 before clipping
    assert torch.equal(corrupt(x, "mask", 0.0), x)


def test_denoising_mask_corrupts_input_not_target(digits):
    x = torch.from_numpy(digits.x[:32])
    model = tiny("denoising_ae", noise="mask", noise_level=1.0)  # every pixel masked while training
    model.train()
    with torch.no_grad():
        train_recon = model.loss(x)["reconstruction"]
        from_blank = model.decode(model.encode(torch.zeros_like(x)).z)
        assert torch.allclose(train_recon, ((from_blank - x) ** 2).sum((1, 2, 3)).mean(), rtol=1e-5)
        model.eval()
        eval_recon = model.loss(x)["reconstruction"]
        assert torch.allclose(eval_recon, ((model(x) - x) ** 2).sum((1, 2, 3)).mean(), rtol=1e-5)
        assert not torch.allclose(train_recon, eval_recon)
    partial = tiny("denoising_ae", noise="mask", noise_level=0.5).train()
    with torch.no_grad():
        assert not torch.equal(partial.loss(x)["total"], partial.loss(x)["total"])  # fresh noise each call


def test_vae_samples_while_training_and_kl_is_closed_form(digits):
    x = torch.from_numpy(digits.x[:32])
    model = tiny("beta_vae", beta=3.0)
    with torch.no_grad():
        model.train()
        assert not torch.equal(model.loss(x)["reconstruction"], model.loss(x)["reconstruction"])
        model.eval()
        enc = model.encode(x)
        var = enc.logvar.exp()
        kl = 0.5 * (enc.mean ** 2 + var - 1 - enc.logvar).sum(1).mean()
        assert torch.allclose(model.loss(x)["kl"], 3.0 * kl, rtol=1e-5)
        # KL of N(0, 1) to itself is zero, and positive otherwise
        assert torch.equal(kl_per_dimension(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2, 3))
        assert (kl_per_dimension(torch.ones(2, 3), torch.zeros(2, 3)) > 0).all()


def test_contraction_is_the_encoder_jacobian_norm(digits):
    x = torch.from_numpy(digits.x[:4])
    model = tiny("contractive_ae", contraction_weight=0.25).eval()
    squared = 0.0
    for sample in x:
        jac = torch.autograd.functional.jacobian(lambda s: model.encoder(s.unsqueeze(0)).squeeze(0), sample)
        squared += float(jac.pow(2).sum())
    with torch.no_grad():
        got = float(model.loss(x)["contraction"])
    assert got == pytest.approx(0.25 * squared / len(x), rel=1e-4)
    assert got > 0


@pytest.mark.parametrize("bad, match", [
    ({"body": "rnn"}, "body"),
    ({"input_shape": [28, 28]}, "input_shape"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"channels": [], "body": "conv"}, "channels"),
    ({"hidden": [0]}, "hidden"),
])
def test_invalid_constructor_arguments_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        tiny("ae", **bad)


def test_conv_sizes_round_trip_for_odd_shapes():
    for shape in ([1, 7, 9], [1, 5, 5], [2, 31, 17], [1, 64, 48]):
        model = tiny("conv_ae", "conv", shape).eval()
        with torch.no_grad():
            assert model(images(shape, 2)).shape == (2, *shape), shape
