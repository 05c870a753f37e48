"""A dataset choice parsed once (``dataset_spec``): what a name or path means, the one rule for
reading a folder for a model, and the command line and the app reading a folder the same way."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from explorer import data, dataset_spec
from explorer.__main__ import main as cli
from explorer.dataset_spec import DatasetError, DatasetSpec
from explorer.shipped import SHIPPED_DIR

ROOT = SHIPPED_DIR.parent


def stroke_folder(folder) -> str:
    """Dark strokes on light paper, like photos of digits: digit preprocessing inverts and centres
    them, plain preprocessing keeps them as they are."""
    for kind in ("bar", "ring"):
        (folder / kind).mkdir(parents=True)
        for i in range(4):
            im = Image.new("L", (40, 40), 230)
            draw = ImageDraw.Draw(im)
            if kind == "bar":
                draw.rectangle([14 + 2 * i, 5, 19 + 2 * i, 34], fill=20)
            else:
                draw.ellipse([8 + 2 * i, 8, 30 + 2 * i, 30], outline=20, width=4)
            im.save(folder / kind / f"{i}.png")
    return str(folder)


def test_names_and_paths_are_parsed_once_into_frozen_specs(tmp_path):
    folder = stroke_folder(tmp_path / "strokes")
    assert dataset_spec.parse("mnist") == DatasetSpec("mnist", "builtin")
    assert dataset_spec.parse("shapes:300", 8, 3, "digit") == DatasetSpec("shapes:300", "generated")  # named: as it is
    assert dataset_spec.parse(folder) == DatasetSpec(folder, "folder", 1, 28, "digit")  # as for the default model
    assert dataset_spec.parse(folder, 8, 3) == DatasetSpec(folder, "folder", 3, 8, "plain")
    assert dataset_spec.parse(folder, 8, 1, trained_on=None) == DatasetSpec(folder, "folder", 1, 8, "plain")
    npz = str(tmp_path / "x.npz")
    assert dataset_spec.parse(npz, 8, 3) == DatasetSpec(npz, "npz", 3, 8)  # fitted
    assert dataset_spec.parse(npz, 8) == DatasetSpec(npz, "npz")  # as stored without both
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'"):
        dataset_spec.parse("cifar")
    with pytest.raises(DatasetError, match="the size after 'shapes:'"):
        dataset_spec.parse("shapes:0")
    spec = dataset_spec.parse(folder, 8, 1)
    assert hash(spec) == hash(dataset_spec.parse(folder, 8, 1))  # a cache key
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.preprocessing = "plain"
    assert np.array_equal(data.load_dataset(spec).x[:], data.load_dataset(folder, size=8, channels=1).x[:])


def test_a_folder_is_read_for_a_model_as_its_training_data_was_read():
    def model(shape, trained_on, recorded=None):
        return SimpleNamespace(input_shape=shape, trained_on=trained_on, trained_preprocessing=recorded)

    assert dataset_spec.preprocessing_for(model((1, 28, 28), "mnist")) == "digit"
    assert dataset_spec.preprocessing_for(model((1, 28, 28), "/data/fashion")) == "plain"
    assert dataset_spec.preprocessing_for(model((1, 28, 28), "/data/photos", "digit")) == "digit"  # recorded wins
    assert dataset_spec.preprocessing_for(model((1, 28, 28), "mnist", "plain")) == "plain"
    assert dataset_spec.preprocessing_for(model((3, 64, 64), None)) == "plain"
    spec = dataset_spec.for_model("/tmp", model((1, 16, 16), "/data/photos", "digit"))
    assert (spec.kind, spec.channels, spec.size, spec.preprocessing) == ("folder", 1, 16, "digit")
    assert dataset_spec.for_model("/tmp", model((1, 16, 16), "mnist"), "plain").preprocessing == "plain"


def test_the_command_line_and_the_app_read_a_1_channel_folder_the_same_way(tmp_path, monkeypatch):
    """A 1-channel model trained on something other than digits: the app read other folders for it
    with plain preprocessing, `python -m explorer encode` with digit preprocessing (the CLI's
    loader read every 1-channel folder as digits)."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "noise.npz", x=rng.random((64, 8, 8), dtype=np.float32))
    model = str(tmp_path / "noise-ae")
    assert cli(["train", "--model", "ae", "--hidden", "16", "--latent-dim", "2", "--dataset", str(tmp_path / "noise.npz"),
                "--epochs", "1", "--out", model, "--threads", "1"]) == 0
    folder = stroke_folder(tmp_path / "strokes")
    assert cli(["encode", model, "--dataset", folder, "--out", str(tmp_path / "codes.npz")]) == 0
    from_cli = np.load(tmp_path / "codes.npz")["z"]

    monkeypatch.setenv("LATENT_EXPLORER_ROOTS", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(ckpt=[], ckpt_path=model, data="folder or .npz path", data_path=folder)
    at.run()
    assert not at.exception and not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert any("Files are read as 1×8×8, plain" in c.value for c in at.sidebar.caption)
    context = at.session_state["context"]
    assert context.dataset.preprocessing == "plain" and context.misfit is None
    np.testing.assert_allclose(context.engine.encode(context.dataset.x), from_cli, atol=1e-5)
