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
