"""Every shipped checkpoint loads, fits MNIST, and still scores what its config records."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.backend import InferenceEngine
from explorer.checkpoint import check_fits, load
from explorer.metrics import per_sample_mse

SHIPPED = sorted(p for p in (Path(__file__).resolve().parents[1] / "checkpoints").iterdir() if p.is_dir())
EXPECTED = {"mnist-ae", "mnist-conv-ae", "mnist-sparse-ae", "mnist-denoising-ae", "mnist-contractive-ae",
            "mnist-vae", "mnist-beta-vae", "mnist-vae-2d", "mnist-anomaly-ae"}


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
    if "anomaly_class" in training:
        assert training["anomaly_auc"] > training["pca_anomaly_auc"]


def test_anomaly_checkpoint_never_saw_its_held_out_class(mnist):
    checkpoint = load(Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-anomaly-ae")
    held_out = checkpoint.config["training"]["anomaly_class"]
    assert checkpoint.config["training"]["config"]["exclude_class"] == held_out
    x_test, y_test = mnist.split("test")
    errors = per_sample_mse(x_test, InferenceEngine(checkpoint, device="cpu").reconstruct(x_test))
    assert np.median(errors[y_test == held_out]) > 1.5 * np.median(errors[y_test != held_out])
