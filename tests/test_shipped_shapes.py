"""The shipped shapes checkpoints: each fits `shapes`, beats PCA by its target, and the
disentangling ones beat the plain VAE and PCA on MIG. Recorded figures are held to the
targets and re-measured on a sample of the test split."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from explorer import disentangle
from explorer.checkpoint import load
from explorer.sources import check_fits
from explorer.data import load_dataset
from explorer.metrics import per_sample_mse
from explorer.data import subsample
from explorer.metrics import PCABaseline, pca_fit_images
from explorer.train import FACTOR_EVAL_SIZE, PCA_FITS, encode, reconstruct

FOLDER = Path(__file__).resolve().parents[1] / "checkpoints"
README = FOLDER.parent / "README.md"
NAMES = ("shapes-ae", "shapes-vae", "shapes-beta-vae", "shapes-beta-tcvae")
DISENTANGLING = ("shapes-beta-vae", "shapes-beta-tcvae")
# Test MSE as a share of PCA's at the same latent size: autoencoders <= 0.5x, VAEs <= 0.75x.
TARGET_VS_PCA = {False: 0.5, True: 0.75}
SAMPLE = 1000  # test images the reconstruction error is re-measured on


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


def training(name: str) -> dict:
    return load(FOLDER / name).config["training"]


def test_the_shapes_checkpoints_are_shipped_small_with_ten_dimensional_codes():
    for name in NAMES:
        assert sum(f.stat().st_size for f in (FOLDER / name).iterdir()) < 5 * 2**20, name
        assert load(FOLDER / name).model.latent_dim == 10
    assert sum(f.stat().st_size for f in FOLDER.rglob("*") if f.is_file()) < 50 * 2**20  # all checkpoints together


@pytest.mark.parametrize("name", NAMES)
def test_shipped_shapes_checkpoint_beats_pca_and_reproduces_its_figures(name, shapes):
    checkpoint = load(FOLDER / name)
    check_fits(checkpoint, shapes.input_shape, "shapes")
    record = checkpoint.config["training"]
    assert record["mse_vs_pca"] == pytest.approx(record["test_mse"] / record["pca_mse"], abs=1e-4)
    assert record["mse_vs_pca"] <= TARGET_VS_PCA[checkpoint.model.is_variational]
    x = shapes.x[subsample(shapes.test_idx, SAMPLE, seed=1)]  # the test split is in factor-grid order
    mse = float(per_sample_mse(x, reconstruct(checkpoint.model, x)).mean())
    assert mse == pytest.approx(record["test_mse"], rel=0.1)  # a tenth of the test split
    # MIG on the very codes it was recorded from: the same held-out images, the same estimate
    held = subsample(shapes.test_idx, FACTOR_EVAL_SIZE)
    mi = disentangle.mutual_information(encode(checkpoint.model, shapes.x[held]), shapes.factors[held])
    assert disentangle.mig(mi, disentangle.factor_entropies(shapes.factors[held])) == pytest.approx(record["mig"], abs=1e-3)


def readme_pca_row() -> dict[str, tuple[float, float, float]]:
    """PCA's row of the README's shapes table: figure -> (median, lowest, highest) as stated."""
    line = next(l for l in README.read_text().splitlines() if l.startswith("| PCA, 10 components, median of"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    stated = {}
    for name, cell in zip(("mig", "dci_disentanglement", "sap"), cells[-3:]):
        median, low, high = map(float, re.fullmatch(r"([0-9.]+) \(([0-9.]+)–([0-9.]+)\)", cell).groups())
        stated[name] = (median, low, high)
    return stated


def test_pca_baseline_is_the_median_of_five_fits_within_the_stated_range(shapes):
    """One PCA fit is one draw: near-equal eigenvalues leave its components' rotation to the sample
    it is fitted on. Five fits on five samples, refitted here, give the recorded values; their
    median lies within the range the README states and is the figure every target is set against."""
    record = training("shapes-vae")
    held = subsample(shapes.test_idx, FACTOR_EVAL_SIZE)
    entropies = disentangle.factor_entropies(shapes.factors[held])
    refitted = []
    for seed in range(PCA_FITS):
        pca = PCABaseline(10, pca_fit_images(shapes, seed=seed))
        refitted.append(disentangle.mig(disentangle.mutual_information(pca.encode(shapes.x[held]), shapes.factors[held]),
                                        entropies))
    assert refitted == pytest.approx(record["pca_mig_fits"], abs=2e-3)
    median, low, high = readme_pca_row()["mig"]
    assert low <= float(np.median(refitted)) <= high
    assert median == pytest.approx(float(np.median(refitted)), abs=1e-3) == pytest.approx(record["pca_mig"], abs=1e-3)
    assert (low, high) == pytest.approx((min(record["pca_mig_fits"]), max(record["pca_mig_fits"])), abs=1e-3)
    for name, (stated, lo, hi) in readme_pca_row().items():  # DCI and SAP as stated, from the record
        assert stated == pytest.approx(record[f"pca_{name}"], abs=1e-3) and lo <= stated <= hi, name
    assert max(refitted) - min(refitted) > 0.05, "a spread worth a median"


# Targets the CPU trainings (8 and 20 epochs, ~4,500 and ~11,000 steps) did not reach: kept as strict
# expected failures with the figures, so that a checkpoint that meets them turns them green. Against
# the median of PCA's five fits (0.057; one fit, 0.124, was the baseline before) both fall short of 3x:
MISSED = {"vae": {},
          "pca": {"shapes-beta-vae": "MIG 0.108 = 1.90x the median of PCA's fits (0.057); 3x is 0.170",
                  "shapes-beta-tcvae": "MIG 0.138 = 2.45x the median of PCA's fits (0.057); 3x is 0.170"}}


def disentangling(baseline: str):
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=f"target missed: {MISSED[baseline][name]}"))
            if name in MISSED[baseline] else name for name in DISENTANGLING]


@pytest.mark.parametrize("name", disentangling("vae"))
def test_disentangling_models_have_at_least_twice_the_plain_vaes_mig(name):
    assert training(name)["mig"] >= disentangle.MIG_TARGET_VS_VAE * training("shapes-vae")["mig"]


@pytest.mark.parametrize("name", disentangling("pca"))
def test_disentangling_models_have_at_least_three_times_the_median_of_pcas_mig(name):
    record = training(name)
    for key in ("pca_mig", "pca_mig_fits"):  # one PCA baseline for all: the same fits, the same median
        assert record[key] == pytest.approx(training("shapes-vae")[key], abs=1e-4)
    assert record["pca_mig"] == pytest.approx(float(np.median(record["pca_mig_fits"])), abs=1e-4)
    assert record["mig"] >= disentangle.MIG_TARGET_VS_PCA * record["pca_mig"]
