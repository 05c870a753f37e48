"""Every shipped MNIST checkpoint loads, fits MNIST, and still scores what its config records."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.engine import InferenceEngine
from explorer.checkpoint import load
from explorer.sources import check_fits
from explorer.metrics import PCABaseline, per_sample_mse

SHIPPED = sorted(p for p in (Path(__file__).resolve().parents[1] / "checkpoints").glob("mnist-*") if p.is_dir())
EXPECTED = {"mnist-ae", "mnist-conv-ae", "mnist-sparse-ae", "mnist-denoising-ae", "mnist-contractive-ae",
            "mnist-vae", "mnist-beta-vae", "mnist-vae-2d", "mnist-anomaly-ae"}
# Test MSE as a share of PCA's at the same latent size: autoencoders <= 0.5x, VAEs <= 0.65x.
TARGET_VS_PCA = {False: 0.5, True: 0.65}


def test_the_whole_zoo_is_shipped_and_small():
    assert {p.name for p in SHIPPED} == EXPECTED
    sizes = {p.name: sum(f.stat().st_size for f in p.iterdir()) for p in SHIPPED}
    assert max(sizes.values()) < 5 * 2**20, sizes
    assert sum(sizes.values()) < 40 * 2**20


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_shipped_checkpoint_reproduces_its_recorded_test_mse(folder, mnist):
    checkpoint = load(folder)
    check_fits(checkpoint, mnist.input_shape, "mnist")
    training = checkpoint.config["training"]
    x_test, _ = mnist.split("test")
    mse = float(per_sample_mse(x_test, InferenceEngine(checkpoint, device="cpu").reconstruct(x_test)).mean())
    assert mse == pytest.approx(training["test_mse"], rel=2e-3, abs=2e-5)
    assert training["test_mse"] < training["pca_mse"]  # beats PCA at the same latent size
    target = TARGET_VS_PCA[checkpoint.model.is_variational]
    if "anomaly_class" in training:
        assert training["anomaly_auc"] > training["pca_anomaly_auc"]
    else:
        assert training["mse_vs_pca"] == pytest.approx(training["test_mse"] / training["pca_mse"], abs=1e-4)
        assert training["mse_vs_pca"] <= target


def test_anomaly_checkpoint_meets_the_quality_target_on_the_classes_it_learned(mnist):
    """Its test MSE over all digits includes the one it never saw (that is the point of it),
    so the target applies to the other nine, beside PCA fitted on the same training images."""
    checkpoint = load(Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-anomaly-ae")
    held_out = checkpoint.config["training"]["anomaly_class"]
    x_train, y_train = mnist.split("train")
    x_test, y_test = mnist.split("test")
    known = x_test[y_test != held_out]
    model_mse = per_sample_mse(known, InferenceEngine(checkpoint, device="cpu").reconstruct(known)).mean()
    pca = PCABaseline(checkpoint.model.latent_dim, x_train[y_train != held_out])
    pca_mse = per_sample_mse(known, pca.reconstruct(known)).mean()
    assert model_mse / pca_mse <= TARGET_VS_PCA[False]


def test_anomaly_checkpoint_never_saw_its_held_out_class(mnist):
    checkpoint = load(Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-anomaly-ae")
    held_out = checkpoint.config["training"]["anomaly_class"]
    assert checkpoint.config["training"]["config"]["exclude_class"] == held_out
    x_test, y_test = mnist.split("test")
    errors = per_sample_mse(x_test, InferenceEngine(checkpoint, device="cpu").reconstruct(x_test))
    assert np.median(errors[y_test == held_out]) > 1.5 * np.median(errors[y_test != held_out])
