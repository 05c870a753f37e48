"""The command line, run in-process: train, info, evaluate, encode, and clean errors."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from explorer import checkpoint as ck
from explorer.__main__ import main

TRAIN = ["train", "--model", "ae", "--dataset", "digits", "--epochs", "2", "--latent-dim", "4",
         "--hidden", "32,16", "--batch-size", "64"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def weights(path) -> dict[str, torch.Tensor]:
    return ck.load(path).model.state_dict()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "digits-ae"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


def test_train_writes_a_loadable_checkpoint_with_metrics(trained, digits):
    loaded = ck.load(trained)
    config = loaded.config
    assert config["model_type"] == "ae" and config["latent_dim"] == 4
    assert config["model"]["hidden"] == [32, 16] and config["input_shape"] == [1, 8, 8]
    assert config["name"] == "digits-ae"
    assert config["dataset"]["name"] == "digits" and config["dataset"]["size"] == 1797
    record = config["training"]
    assert record["epochs"] == 2 and record["best_epoch"] in (1, 2)
    assert record["train_size"] + record["val_size"] == len(digits.train_idx)
    for key in ("test_mse", "test_psnr", "test_ssim", "pca_mse", "pca_psnr", "pca_ssim", "best_val_mse"):
        assert np.isfinite(record[key]) and record[key] > 0, key
    assert record["mse_vs_pca"] == pytest.approx(record["test_mse"] / record["pca_mse"], rel=1e-3)
    assert 0 < record["test_mse"] < 0.2 and -1 < record["test_ssim"] <= 1
    assert "total" in record["final_train_losses"] and "val_mse" in record["final_train_losses"]


def test_train_is_deterministic(trained, tmp_path, capsys):
    code, out, _ = run(capsys, *TRAIN, "--out", str(tmp_path / "again"))
    assert code == 0 and f"saved {tmp_path / 'again'}" in out
    first, second = weights(trained), weights(tmp_path / "again")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    # ...and the seed matters: another seed gives other weights
    assert run(capsys, *TRAIN, "--seed", "1", "--out", str(tmp_path / "other"))[0] == 0
    other = weights(tmp_path / "other")
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_info_prints_the_config(trained, capsys):
    code, out, _ = run(capsys, "info", str(trained))
    assert code == 0
    shown = json.loads(out)
    loaded = ck.load(trained)
    assert {k: shown[k] for k in loaded.config} == loaded.config
    assert shown["parameters"] == loaded.model.num_parameters() == sum(p.numel() for p in loaded.model.parameters())
    assert shown["content_hash"] == loaded.content_hash


def test_evaluate_prints_test_mse_and_pca_baseline(trained, capsys):
    code, out, _ = run(capsys, "evaluate", str(trained))
    assert code == 0
    record = ck.load(trained).config["training"]
    model_mse = float(re.search(r"^test MSE ([0-9.]+)", out, re.M)[1])
    pca_mse = float(re.search(r"^PCA k=same MSE ([0-9.]+)", out, re.M)[1])
    assert model_mse == pytest.approx(record["test_mse"], abs=1e-5)  # same split, same numbers
    assert pca_mse == pytest.approx(record["pca_mse"], abs=1e-5)
    assert "anomaly" not in out


def test_encode_writes_codes(trained, tmp_path, capsys, digits):
    code, out, _ = run(capsys, "encode", str(trained), "--out", str(tmp_path / "codes.npz"))
    assert code == 0 and "wrote 1797 codes of size 4" in out
    with np.load(tmp_path / "codes.npz") as f:
        z, y = f["z"], f["y"]
    model = ck.load(trained).model
    with torch.no_grad():
        want = model.encode(torch.from_numpy(digits.x[:10])).z.numpy()
    assert z.shape == (1797, 4) and np.array_equal(y, digits.y)
    assert np.allclose(z[:10], want, atol=1e-5)
    code, out, _ = run(capsys, "encode", str(trained), "--out", str(tmp_path / "codes.csv"))
    table = np.loadtxt(tmp_path / "codes.csv", delimiter=",", skiprows=1)
    assert code == 0 and table.shape == (1797, 5)
    assert np.array_equal(table[:, 0], digits.y) and np.allclose(table[:, 1:], z, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("command", ["info", "evaluate", "encode"])
def test_missing_checkpoint_is_a_clean_error(tmp_path, capsys, command):
    extra = ["--out", str(tmp_path / "z.npz")] if command == "encode" else []
    code, out, err = run(capsys, command, str(tmp_path / "nowhere"), *extra)
    assert code == 2 and out == ""
    assert err == f"error: {tmp_path / 'nowhere'}: no such file or folder\n"


def test_broken_checkpoint_is_a_clean_error(trained, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((trained / "config.json").read_text())
    (broken / "model.safetensors").write_bytes((trained / "model.safetensors").read_bytes()[:100])
    code, _, err = run(capsys, "info", str(broken))
    assert code == 2
    assert err.startswith("error: model.safetensors: the file is truncated") and "Traceback" not in err


def test_dataset_that_does_not_fit_is_a_clean_error(trained, capsys):
    code, _, err = run(capsys, "evaluate", str(trained), "--dataset", "mnist")
    assert code == 2
    assert "expects images of shape [1, 8, 8]" in err and "[1, 28, 28]" in err


def test_bad_dataset_is_a_clean_error(tmp_path, capsys):
    code, _, err = run(capsys, *TRAIN, "--dataset", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o"))
    assert code == 2 and err.startswith("error: ") and "missing.npz: no such file" in err
    assert not (tmp_path / "o").exists()


def test_evaluate_never_prints_negative_zero(trained, capsys, monkeypatch):
    """A k-means ARI of -0.0003 printed as "-0.000"; figures that round to zero print as 0.000."""
    from explorer import quality

    real = quality.clustering_scores
    monkeypatch.setattr(quality, "clustering_scores", lambda codes, labels, seed=0: (real(codes, labels, seed)[0], -0.0003))
    code, out, _ = run(capsys, "evaluate", str(trained))
    assert code == 0 and "-0.000" not in out
    assert re.search(r"^ARI \(k-means\)\s+0\.000\s+0\.000\s+0\.000$", out, re.M), out


def test_evaluate_record_writes_the_figures_into_the_checkpoint(trained, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in trained.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    config["training"]["test_mse"] = 9.0  # a stale figure, as a changed definition would leave one
    (copy / "config.json").write_text(json.dumps(config))
    code, out, _ = run(capsys, "evaluate", str(copy), "--record")
    assert code == 0 and f"recorded the figures above in {copy / 'config.json'}" in out
    loaded = ck.load(copy)
    record = loaded.config["training"]
    assert record["test_mse"] == ck.load(trained).config["training"]["test_mse"]  # measured again, not 9
    assert record["epochs"] == 2 and record["final_train_losses"]  # the rest of the record kept
    assert {k: v for k, v in loaded.config.items() if k != "training"} == \
        {k: v for k, v in ck.load(trained).config.items() if k != "training"}
    before, after = weights(trained), loaded.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the weights file carries the same config in its metadata (a copy of it alone says the same)
    from safetensors import safe_open

    with safe_open(str(copy / "model.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["config"]) == loaded.config
    code, _, err = run(capsys, "evaluate", str(copy), "--record", "--dataset", "digits")
    assert code == 2 and "--record writes the figures of the dataset the checkpoint was trained on" in err


def test_pca_disentanglement_is_the_median_of_fits_on_other_samples(monkeypatch):
    """One PCA fit is one draw of its components' rotation: the figure is the median of five, each
    on another sample of training images, and every fit's value is kept for the range."""
    from explorer import disentangle, metrics, train
    from explorer.data import load_dataset, subsample

    monkeypatch.setattr(metrics, "PCA_FIT_SIZE", 300)  # small samples of a small draw: quick
    monkeypatch.setattr(train, "FACTOR_FIT_SIZE", 400)
    monkeypatch.setattr(train, "FACTOR_EVAL_SIZE", 400)
    shapes = load_dataset("shapes:2000")
    result = train.pca_disentanglement(shapes, 6)
    fits = result["pca_mig_fits"]
    assert result["pca_fits"] == len(fits) == 5 and result["pca_fit_size"] == 300
    assert len(set(fits)) > 1, "five fits on other samples, not one fit five times"
    assert result["pca_mig"] == pytest.approx(float(np.median(fits)), abs=1e-4)
    for key in ("dci_disentanglement", "dci_completeness", "dci_informativeness", "sap"):
        assert result[f"pca_{key}"] == pytest.approx(float(np.median(result[f"pca_{key}_fits"])), abs=1e-4)
    held = subsample(shapes.test_idx, 400)
    third = metrics.PCABaseline(6, metrics.pca_fit_images(shapes, seed=2))  # the third fit, redone by hand
    mi = disentangle.mutual_information(third.encode(shapes.x[held]), shapes.factors[held])
    assert disentangle.mig(mi, disentangle.factor_entropies(shapes.factors[held])) == pytest.approx(fits[2], abs=1e-4)
    # a training split no larger than one sample: every fit would be the same, so there is one
    monkeypatch.setattr(metrics, "PCA_FIT_SIZE", 5000)
    assert train.pca_disentanglement(shapes, 6)["pca_fits"] == 1


def test_evaluate_prints_pcas_median_its_range_and_the_target(capsys):
    from explorer.__main__ import print_disentanglement

    figures = {"mig": 0.108, "dci_disentanglement": 0.1, "dci_completeness": 0.1, "dci_informativeness": 0.6,
               "sap": 0.099, "pca_fit_size": 4000}
    for key, fits in (("mig", [0.124, 0.057, 0.033, 0.08, 0.045]), ("dci_disentanglement", [0.12] * 5),
                      ("dci_completeness", [0.11] * 5), ("dci_informativeness", [0.62] * 5),
                      ("sap", [0.08, 0.02, 0.02, 0.05, 0.03])):
        figures[f"pca_{key}_fits"], figures[f"pca_{key}"] = fits, float(np.median(fits))
    print_disentanglement(figures)
    out = capsys.readouterr().out
    assert "PCA   MIG 0.057" in out and "(the median of 5 fits, each on another sample of 4,000 training images)" in out
    assert "PCA's range over its fits: MIG 0.033-0.124" in out and "SAP 0.020-0.080" in out
    assert "MIG 0.108 is 1.89x PCA's median (a model trained to disentangle is held to 3x: 0.171" in out
