"""Loading refuses every kind of bad checkpoint with a CheckpointError a user can act on.

All corpora are generated here from one tiny saved model; no binary files are committed.
"""
from __future__ import annotations

import copy
import io
import json
import os
import pickle
import re
import resource
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from explorer import checkpoint as ck
from explorer.checkpoint import CheckpointError
from explorer.models import build
from explorer.sources import check_fits


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build("ae", {"input_shape": [1, 8, 8], "latent_dim": 4, "hidden": [16]}).eval()


@pytest.fixture
def folder(model, tmp_path) -> Path:
    return ck.save(model, tmp_path / "good", {"name": "good", "dataset": {"name": "digits"}})


def state_of(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def config_of(folder: Path) -> dict:
    return json.loads((folder / ck.CONFIG_NAME).read_text())


def write_config(folder: Path, config: dict) -> None:
    (folder / ck.CONFIG_NAME).write_text(json.dumps(config))


def write_weights(folder: Path, state: dict[str, torch.Tensor]) -> None:
    (folder / ck.WEIGHTS_NAME).write_bytes(st_save(state))


def safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def load_error(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        ck.load(path)
    return str(info.value)


def single_file(folder: Path, tmp_path: Path) -> Path:
    path = tmp_path / "single.safetensors"
    shutil.copy(folder / ck.WEIGHTS_NAME, path)
    return path


# --- the good case, for contrast ---------------------------------------------------------
def test_good_checkpoint_loads_in_both_forms(model, folder, tmp_path):
    x = torch.rand(5, 1, 8, 8)
    for path in (folder, single_file(folder, tmp_path)):
        loaded = ck.load(path)
        assert loaded.name == "good"
        with torch.no_grad():
            assert torch.equal(loaded.model(x), model(x))
    # the hash follows the content: same files -> same hash, changed weights -> new hash
    before = ck.load(folder).content_hash
    assert ck.load(folder).content_hash == before
    state = state_of(model)
    state["decoder.net.2.bias"] += 1
    write_weights(folder, state)
    assert ck.load(folder).content_hash != before


def test_missing_path(tmp_path):
    assert "no such file or folder" in load_error(tmp_path / "nope")


# --- broken files --------------------------------------------------------------------------
def test_empty_file(folder, tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    assert "empty.safetensors: the file is empty" in load_error(empty)
    (folder / ck.WEIGHTS_NAME).write_bytes(b"")
    assert "model.safetensors: the file is empty" in load_error(folder)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "noise.safetensors"
    raw = np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(raw)
    message = load_error(path)
    assert message.startswith("noise.safetensors: ")
    assert "not a safetensors file" in message


def test_random_bytes_that_look_like_a_pickle_or_zip(tmp_path):
    rng = np.random.default_rng(0)
    for magic in (b"\x80\x02", b"PK\x03\x04"):
        path = tmp_path / "fake.pt"
        path.write_bytes(magic + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
        message = load_error(path)
        # torch's weights-only reader reports garbage as an unpickling error, hence "refused"
        assert message.startswith("fake.pt: refused") or message.startswith("fake.pt: not a readable PyTorch"), message


def test_header_not_json(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 24) + b"this is not json at all!" + b"\0" * 16)
    assert "its header is not JSON" in load_error(path)
    path.write_bytes(safetensors_bytes([1, 2, 3]))  # JSON, but not an object
    assert "not a JSON object" in load_error(path)


def test_header_claiming_gigabytes_fails_fast(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 5 * 2**30) + b'{"a": 1}')
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    message = load_error(path)
    assert time.perf_counter() - start < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100 * 1024
    assert "header claims 5,368,709,120 bytes" in message
    # a small header whose tensor claims 40 GB of data the file does not hold
    path.write_bytes(safetensors_bytes({"w": {"dtype": "F32", "shape": [100000, 100000],
                                              "data_offsets": [0, 40_000_000_000]}}, b"\0" * 64))
    start = time.perf_counter()
    message = load_error(path)
    assert time.perf_counter() - start < 1.0
    assert "truncated" in message and "'w'" in message


def test_truncated_at_many_offsets(folder, tmp_path):
    raw = (folder / ck.WEIGHTS_NAME).read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    offsets = [4, 8, 9, 8 + header_len // 2, 8 + header_len, 8 + header_len + 3,
               (8 + header_len + len(raw)) // 2, len(raw) - 1]
    single = tmp_path / "cut.safetensors"
    for n in offsets:
        single.write_bytes(raw[:n])
        (folder / ck.WEIGHTS_NAME).write_bytes(raw[:n])
        for path, name in ((single, "cut.safetensors"), (folder, "model.safetensors")):
            message = load_error(path)
            assert message.startswith(f"{name}: "), (n, message)
            if n < 8:
                assert f"only {n} bytes" in message
            else:
                assert "the file is truncated" in message, (n, message)


@pytest.mark.parametrize("entry", [
    {"dtype": "F32", "shape": [1], "data_offsets": {"from": 0, "to": 4}},
    {"dtype": "F32", "shape": [1], "data_offsets": 4},
    {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]},
    {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]},
    {"dtype": "F32", "shape": [1]},
    "not a dict",
])
def test_malformed_header_entries(tmp_path, entry):
    path = tmp_path / "x.safetensors"
    path.write_bytes(safetensors_bytes({"w": entry}, b"\0" * 4))
    assert "tensor 'w' has a malformed entry in the header" in load_error(path)


def test_unknown_dtype_and_inconsistent_data(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(safetensors_bytes({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4))
    assert "unknown dtype 'F128'" in load_error(path)
    path.write_bytes(safetensors_bytes({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 4]}}, b"\0" * 4))
    assert "the safetensors data is invalid" in load_error(path)


@pytest.mark.parametrize("low_bytes", [b"\x80", b"PK"])
def test_valid_file_whose_header_length_looks_like_a_pickle_or_zip(model, tmp_path, low_bytes):
    """The header length is little-endian: ~1 valid file in 256 begins with 0x80 (a pickle's
    first byte) and some begin with "PK" (a zip's). They are still safetensors files."""
    config = ck.make_config(model, {"name": ""})
    state = state_of(model)

    def file_with_name_of_length(n: int) -> bytes:
        config["name"] = "n" * n
        return st_save(state, metadata={"config": json.dumps(config)})

    # the header grows one byte per character of the name: aim at a length with those low bytes
    modulus = 256 ** len(low_bytes)
    target = int.from_bytes(low_bytes, "little")
    base = struct.unpack("<Q", file_with_name_of_length(0)[:8])[0]
    guess = (target - base) % modulus
    for n in range(max(0, guess - 16), guess + 16):
        raw = file_with_name_of_length(n)
        if raw.startswith(low_bytes):
            break
    else:
        pytest.fail("could not build the file")
    path = tmp_path / "odd.safetensors"
    path.write_bytes(raw)
    loaded = ck.load(path)
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


# --- weights that do not fit the config ---------------------------------------------------------
def test_wrong_tensor_shape(model, folder):
    state = state_of(model)
    state["encoder.net.0.weight"] = torch.zeros(16, 65)
    write_weights(folder, state)
    assert shape_complaint(load_error(folder)) == ("encoder.net.0.weight", [16, 65], [16, 64])


def test_missing_tensor(model, folder):
    state = state_of(model)
    del state["decoder.net.0.bias"]
    write_weights(folder, state)
    message = load_error(folder)
    assert "weights missing for 1 tensor(s): decoder.net.0.bias" in message


def test_extra_tensor(model, folder):
    state = state_of(model)
    state["bonus.weight"] = torch.zeros(3)
    write_weights(folder, state)
    assert "1 tensor(s) the model does not have: bonus.weight" in load_error(folder)


def test_dtype_mismatch(model, folder):
    write_weights(folder, {k: v.double() for k, v in state_of(model).items()})
    message = load_error(folder)
    assert "dtype float64, the model expects float32" in message


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights(model, folder, tmp_path, bad):
    state = state_of(model)
    state["encoder.net.2.weight"][1, 2] = bad
    raw = st_save(state, metadata={"config": json.dumps(config_of(folder))})
    (folder / ck.WEIGHTS_NAME).write_bytes(raw)
    single = tmp_path / "bad.safetensors"
    single.write_bytes(raw)
    for path in (folder, single):
        message = load_error(path)
        assert "'encoder.net.2.weight' contains NaN or infinite values" in message


# --- configs ------------------------------------------------------------------------------
def test_unknown_model_type(folder):
    config = config_of(folder)
    config["model_type"] = "transformer"
    write_config(folder, config)
    message = load_error(folder)
    assert "unknown model_type 'transformer'" in message and "vae" in message


@pytest.mark.parametrize("key", sorted(ck.REQUIRED_KEYS))
def test_config_missing_key(folder, key):
    config = config_of(folder)
    del config[key]
    write_config(folder, config)
    assert f"config is missing key(s): {key}" in load_error(folder)


def test_config_missing_model_argument(folder):
    config = config_of(folder)
    del config["model"]["hidden"]
    write_config(folder, config)
    assert "model arguments missing for ae: hidden" in load_error(folder)


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c.update(latent_dim="4"), "config key 'latent_dim' must be int, got str"),
    (lambda c: c.update(latent_dim=True), "config key 'latent_dim' must be int, got bool"),
    (lambda c: c.update(model=[1, 2]), "config key 'model' must be dict, got list"),
    (lambda c: c.update(name=7), "config key 'name' must be str, got int"),
    (lambda c: c.update(format="latent-explorer/9"), "config format 'latent-explorer/9' is not supported"),
    (lambda c: c["model"].update(hidden="16"), "model argument 'hidden' must be list[int], got '16'"),
    (lambda c: c["model"].update(hidden=[16.5]), "model argument 'hidden' must be list[int], got [16.5]"),
    (lambda c: c["model"].update(latent_dim=4.0), "model argument 'latent_dim' must be int, got 4.0"),
    (lambda c: c["model"].update(body=1), "model argument 'body' must be str, got 1"),
    (lambda c: c["model"].update(body="rnn"), "the model arguments are invalid: body must be one of"),
    (lambda c: c["model"].update(channels=[]), "the model arguments are invalid: channels must be"),
    (lambda c: c["model"].update(hidden=[-1]), "the model arguments are invalid: hidden widths must be positive"),
    (lambda c: c.update(input_shape=[1, 8]), "input_shape must be [C, H, W] of positive integers"),
    (lambda c: c.update(input_shape=[1, 8, 0]), "input_shape must be [C, H, W] of positive integers"),
])
def test_config_wrong_types_and_values(folder, edit, expected):
    config = config_of(folder)
    edit(config)
    write_config(folder, config)
    assert expected in load_error(folder)


def test_config_extra_keys(folder):
    config = config_of(folder)
    config["evil"] = {"x": 1}
    write_config(folder, config)
    assert "config has unknown key(s): evil" in load_error(folder)
    config = config_of(folder)
    del config["evil"]
    config["model"]["dropout"] = 0.1
    write_config(folder, config)
    assert "model arguments not understood by ae: dropout" in load_error(folder)


def test_config_not_json(folder):
    (folder / ck.CONFIG_NAME).write_text("{'single': 'quotes'}")
    assert "config.json: not valid JSON" in load_error(folder)
    (folder / ck.CONFIG_NAME).write_text("[1, 2]")
    assert "config.json: must be a JSON object" in load_error(folder)


def shape_complaint(message: str) -> tuple[str, list[int], list[int]]:
    match = re.fullmatch(r"tensor '(.+)' has shape \[(.*)\], the model expects \[(.*)\]", message)
    assert match, message
    return match[1], json.loads(f"[{match[2]}]"), json.loads(f"[{match[3]}]")


def test_latent_dim_and_input_shape_contradicting_the_weights(model, folder):
    names = set(model.state_dict())
    original = config_of(folder)
    config = copy.deepcopy(original)
    config["latent_dim"] = 6  # only the top-level copy
    write_config(folder, config)
    assert "latent_dim 6 contradicts the model's own latent_dim 4" in load_error(folder)

    config["model"]["latent_dim"] = 6  # both copies agree, the weights do not
    write_config(folder, config)
    name, got, want = shape_complaint(load_error(folder))
    assert name in names and 4 in got and want == [6 if s == 4 else s for s in got]

    config = copy.deepcopy(original)
    config["input_shape"] = [1, 28, 28]
    write_config(folder, config)
    assert "input_shape [1, 28, 28] contradicts the model's own input_shape [1, 8, 8]" in load_error(folder)

    config["model"]["input_shape"] = [1, 28, 28]
    write_config(folder, config)
    name, got, want = shape_complaint(load_error(folder))
    assert name in names and 64 in got and want == [784 if s == 64 else s for s in got]


def test_config_claiming_enormous_layers_fails_fast(folder):
    config = config_of(folder)
    config["model"]["hidden"] = [1_000_000]  # 128e6 parameters (512 MB) if it were built for real
    write_config(folder, config)
    start = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = load_error(folder)
    assert time.perf_counter() - start < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100 * 1024
    name, got, want = shape_complaint(message)
    assert name.startswith(("encoder.net.", "decoder.net.")) and 1_000_000 in want and 1_000_000 not in got


def test_folder_without_config_or_weights(folder, tmp_path):
    (folder / ck.CONFIG_NAME).unlink()
    assert "good: the folder has no config.json" in load_error(folder)
    empty = tmp_path / "bare"
    empty.mkdir()
    assert "bare: the folder has no model.safetensors" in load_error(empty)


def test_single_file_without_config_metadata(model, tmp_path):
    path = tmp_path / "plain.safetensors"
    path.write_bytes(st_save(state_of(model)))
    assert "must carry its config (metadata key 'config')" in load_error(path)
    path.write_bytes(st_save(state_of(model), metadata={"config": "not json"}))
    assert "plain.safetensors metadata: not valid JSON" in load_error(path)


# --- pickles ------------------------------------------------------------------------------
class OpensAFile:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class RunsAShellCommand:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("payload", [OpensAFile, RunsAShellCommand])
@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_malicious_pickle_is_never_run(folder, tmp_path, payload, how):
    marker = tmp_path / "pwned"
    evil = {"encoder.net.0.weight": torch.zeros(16, 64), "boom": payload(str(marker))}
    buf = io.BytesIO()
    if how == "torch.save":
        torch.save(evil, buf)
    else:
        pickle.dump(evil, buf, protocol=2)
    assert not marker.exists()
    (folder / ck.WEIGHTS_NAME).unlink()
    (folder / ck.LEGACY_WEIGHTS_NAME).write_bytes(buf.getvalue())
    lone = tmp_path / "evil.pt"
    lone.write_bytes(buf.getvalue())
    for path, name in ((folder, "model.pt"), (lone, "evil.pt")):
        message = load_error(path)
        assert message.startswith(f"{name}: refused: the file holds pickled objects other than tensors")
    assert not marker.exists()


def test_whole_module_pickle_is_refused(model, folder):
    buf = io.BytesIO()
    torch.save(model, buf)
    (folder / ck.WEIGHTS_NAME).unlink()
    (folder / ck.LEGACY_WEIGHTS_NAME).write_bytes(buf.getvalue())
    assert "model.pt: refused" in load_error(folder)


def test_pt_holding_something_other_than_a_state_dict(folder):
    (folder / ck.WEIGHTS_NAME).unlink()
    buf = io.BytesIO()
    torch.save([torch.zeros(2)], buf)
    (folder / ck.LEGACY_WEIGHTS_NAME).write_bytes(buf.getvalue())
    assert "must hold a dict of named tensors" in load_error(folder)


@pytest.mark.parametrize("wrapped", [False, True])
def test_legacy_state_dict_pt_loads(model, folder, wrapped):
    (folder / ck.WEIGHTS_NAME).unlink()
    state = state_of(model)
    buf = io.BytesIO()
    torch.save({"state_dict": state, "epoch": 3} if wrapped else state, buf)
    (folder / ck.LEGACY_WEIGHTS_NAME).write_bytes(buf.getvalue())
    loaded = ck.load(folder)
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))
    assert not loaded.model.training


# --- fit to a dataset ---------------------------------------------------------------------------
def test_check_fits(folder):
    loaded = ck.load(folder)
    check_fits(loaded, [1, 8, 8], "digits")  # fits: no error
    with pytest.raises(CheckpointError) as info:
        check_fits(loaded, [1, 28, 28], "mnist")
    message = str(info.value)
    assert "good expects images of shape [1, 8, 8]" in message and "mnist has [1, 28, 28]" in message
    with pytest.raises(CheckpointError, match=r"\[3, 8, 8\]"):
        check_fits(loaded, [3, 8, 8], "rgb")


def test_check_fits_for_any_model_names_both_shapes(folder):
    from explorer.sources import open_model

    model = open_model(folder)
    check_fits(model, [1, 8, 8], "digits")
    with pytest.raises(CheckpointError, match=r"good expects images of shape \[1, 8, 8\].*mnist has \[1, 28, 28\]"):
        check_fits(model, [1, 28, 28], "mnist")


# --- the training record (defect 1) -------------------------------------------------------------
def test_training_record_reads_missing_and_malformed_figures_as_not_recorded():
    from explorer.sources import NOT_RECORDED, TrainingRecord

    record = TrainingRecord.from_dict({"test_mse": 0.0123, "pca_mse": "n/a", "test_psnr": float("nan"),
                                       "test_ssim": True, "mse_vs_pca": 10**400, "anomaly_class": 3.0,
                                       "epochs": 7, "date": 5})
    assert record.test_mse == 0.0123 and record.figure("test_mse") == "0.0123"
    assert record.pca_mse is None and record.figure("pca_mse") == NOT_RECORDED == "not recorded"
    assert record.test_psnr is None and record.test_ssim is None and record.mse_vs_pca is None
    assert record.anomaly_class is None and record.epochs == 7 and record.date is None
    assert record.get("no_such_figure") is None and record.figure("no_such_figure") == NOT_RECORDED
    for raw in (None, [], "x", 3):
        assert TrainingRecord.from_dict(raw) == TrainingRecord()


def test_a_checkpoint_without_pca_mse_renders_the_model_card_and_anomaly_page(tmp_path, monkeypatch):
    """Defect 1: a training record with test_mse but no pca_mse used to raise KeyError in the
    model card and the Anomaly page, failing every page of the session."""
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "no-pca"
    shutil.copytree(root / "checkpoints" / "mnist-anomaly-ae", target)
    config = json.loads((target / ck.CONFIG_NAME).read_text())
    for key in ("pca_mse", "pca_psnr", "pca_ssim", "mse_vs_pca", "anomaly_auc", "pca_anomaly_auc"):
        config["training"].pop(key, None)
    config["name"] = "no-pca"
    (target / ck.CONFIG_NAME).write_text(json.dumps(config))
    monkeypatch.setenv("LATENT_EXPLORER_ROOTS", str(tmp_path))

    at = AppTest.from_file(str(root / "app.py"), default_timeout=240)
    at.query_params["ckpt_path"] = str(target)
    at.query_params["data"] = "mnist"
    at.run()
    assert not at.exception, at.exception
    card = " ".join(c.value for c in at.sidebar.caption)
    assert f"test MSE {config['training']['test_mse']:.4f} (PCA at the same size: not recorded)" in card
    assert any(m.value == "**no-pca**" for m in at.sidebar.markdown)
    at.switch_page("explorer/ui/pages/anomaly.py").run()
    assert not at.exception, at.exception
    assert not at.error
    assert any(s.value.startswith("Finding the held-out class") for s in at.subheader)


# --- a generated corpus of pathological configs (defect 2) ---------------------------------------
def test_every_pathological_config_ends_in_a_checkpoint_error(model, tmp_path):
    from json_corpus import as_text, corpus, outcomes as corpus_outcomes

    vae = build("vae", {"input_shape": [1, 8, 8], "latent_dim": 4, "hidden": [16]}).eval()
    path = ck.save(vae, tmp_path / "c", {"name": "c", "dataset": {"name": "digits", "classes": ["0", "1"]},
                                         "training": {"test_mse": 0.1, "pca_mse": 0.2, "config": {"epochs": 1}}})
    good = json.loads((path / ck.CONFIG_NAME).read_text())
    entries = corpus(good)
    assert len(entries) > 800
    start = time.perf_counter()
    escaped, loaded = corpus_outcomes(path, lambda doc: (path / ck.CONFIG_NAME).write_text(as_text(doc)), entries)
    assert not escaped, escaped[:20]
    assert 0 < loaded < len(entries) // 2  # free-form parts (training, dataset) may hold anything
    assert time.perf_counter() - start < 60


def test_every_pathological_config_in_safetensors_metadata_ends_in_a_checkpoint_error(model, tmp_path):
    from json_corpus import as_text, corpus, outcomes as corpus_outcomes

    good = ck.make_config(model, {"name": "m"})
    state = state_of(model)
    path = tmp_path / "single.safetensors"
    entries = corpus(good)[::7]  # every seventh: the same families, in a seventh of the time
    escaped, loaded = corpus_outcomes(
        path, lambda doc: path.write_bytes(st_save(state, metadata={"config": as_text(doc)})), entries)
    assert not escaped, escaped[:20]
    assert loaded > 0
