"""The latent-size sweep: the shipped MNIST sweep, the sweep itself, the knee, the linear autoencoder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from explorer import checkpoint as ckpt
from explorer.__main__ import main
from explorer.metrics import PCABaseline, per_sample_mse
from explorer.models import build
from explorer.sweep import SUMMARY_NAME, knee, read_summary, run_sweep
from explorer.train import TrainConfig, reconstruct

SWEEP = Path(__file__).resolve().parents[1] / "checkpoints" / "sweep"
SIZES = [2, 4, 8, 16, 32, 64]


@pytest.fixture(scope="module")
def shipped() -> dict:
    return read_summary(SWEEP)


def test_the_shipped_sweep_has_both_families_at_every_size_and_is_small(shipped):
    assert set(shipped["families"]) == {"ae", "linear_ae"}
    for family in shipped["families"].values():
        assert [p["latent_dim"] for p in family["points"]] == SIZES
    assert [p["latent_dim"] for p in shipped["pca"]] == SIZES
    assert shipped["dataset"]["name"] == "mnist"
    assert sum(f.stat().st_size for f in SWEEP.rglob("*") if f.is_file()) <= 8 * 2**20
    for folder in (p for p in SWEEP.iterdir() if p.is_dir()):
        assert {f.name for f in folder.iterdir()} == {ckpt.CONFIG_NAME, ckpt.WEIGHTS_NAME}


def test_the_linear_autoencoder_meets_pca_at_every_size(shipped):
    pca = {p["latent_dim"]: p["test_mse"] for p in shipped["pca"]}
    for point in shipped["families"]["linear_ae"]["points"]:
        assert abs(point["test_mse"] / pca[point["latent_dim"]] - 1) <= 0.05, point


@pytest.mark.parametrize("family", ["ae", "linear_ae"])
def test_shipped_sweep_checkpoints_reproduce_their_recorded_mse(family, shipped, mnist):
    x_test, _ = mnist.split("test")
    for point in shipped["families"][family]["points"]:
        model = ckpt.load(SWEEP / point["checkpoint"]).model
        assert model.latent_dim == point["latent_dim"] and model.model_type == family
        mse = float(per_sample_mse(x_test, reconstruct(model, x_test)).mean())
        assert mse == pytest.approx(point["test_mse"], rel=1e-3, abs=1e-5)
    pca_64 = float(per_sample_mse(x_test, PCABaseline(64, mnist.split("train")[0]).reconstruct(x_test)).mean())
    assert pca_64 == pytest.approx(shipped["pca"][-1]["test_mse"], rel=1e-4)


def test_a_sweep_trains_each_size_and_a_second_family_joins_the_summary(digits, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=256)
    run_sweep("linear_ae", {}, digits, [4, 2], tmp_path, cfg, progress=False)
    summary = run_sweep("ae", {"hidden": [16]}, digits, [2, 8], tmp_path, cfg, progress=False)
    assert summary == json.loads((tmp_path / SUMMARY_NAME).read_text())
    assert [p["latent_dim"] for p in summary["families"]["linear_ae"]["points"]] == [2, 4]
    assert [p["checkpoint"] for p in summary["families"]["ae"]["points"]] == ["ae-2", "ae-8"]
    assert [p["latent_dim"] for p in summary["pca"]] == [2, 4, 8]
    assert summary["families"]["ae"]["model"] == {"hidden": [16]}
    loaded = ckpt.load(tmp_path / "ae-8")
    assert loaded.model.latent_dim == 8 and loaded.config["training"]["test_mse"] > 0
    pca = [p["test_mse"] for p in summary["pca"]]
    assert pca == sorted(pca, reverse=True)  # more components, less error


def test_a_sweep_refuses_to_mix_datasets(digits, mnist, tmp_path):
    run_sweep("linear_ae", {}, digits, [2], tmp_path, TrainConfig(epochs=1), progress=False)
    with pytest.raises(ValueError, match="another dataset"):
        run_sweep("linear_ae", {}, mnist, [2], tmp_path, TrainConfig(epochs=1), progress=False)


def test_sweep_command_prints_each_size_beside_pca(tmp_path, capsys):
    code = main(["sweep", "--model", "linear_ae", "--dataset", "digits", "--latent-dims", "2", "4",
                 "--hidden", "", "--epochs", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "PCA MSE" in out and f"wrote {tmp_path / SUMMARY_NAME}" in out
    assert {p.name for p in tmp_path.iterdir()} == {"linear_ae-2", "linear_ae-4", SUMMARY_NAME}


def test_knee_is_where_the_curve_bends():
    sizes = [2, 4, 8, 16, 32, 64]
    assert knee(sizes, [0.50, 0.20, 0.05, 0.04, 0.035, 0.03]) == 8
    assert knee(sizes[::-1], [0.03, 0.035, 0.04, 0.05, 0.20, 0.50]) == 8  # order of the input does not matter
    assert knee([4, 8], [0.2, 0.1]) == 4
    with pytest.raises(ValueError):
        knee([2, 4], [0.1])


def test_linear_autoencoder_is_linear_and_refuses_nonlinear_parts():
    model = build("linear_ae", {"input_shape": [1, 8, 8], "latent_dim": 3}).eval()
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 2
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        codes = model.encode(x).z
        mix = model.encode(0.3 * x[:2] + 0.7 * x[2:]).z  # affine: mixtures map to mixtures
    assert torch.allclose(mix, 0.3 * codes[:2] + 0.7 * codes[2:], atol=1e-5)
    for bad in ({"body": "conv"}, {"hidden": [32]}, {"recon_loss": "bce"}):
        with pytest.raises(ValueError, match="linear"):
            build("linear_ae", {"latent_dim": 3, **bad})


def test_linear_autoencoder_trains_on_the_unclipped_output():
    model = build("linear_ae", {"input_shape": [1, 2, 2], "latent_dim": 1})
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.decoder.net[0].bias.fill_(-1.0)  # every pixel decodes to -1, shown as 0
    with torch.no_grad():
        terms = model.loss(torch.zeros(1, 1, 2, 2))
    assert float(terms["mse"]) == 0.0  # the clipped image matches...
    assert float(terms["reconstruction"]) == pytest.approx(4.0)  # ...but the least-squares loss sees the gap
