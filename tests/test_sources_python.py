"""The Python adapter source: the shipped example opens from Python; adapters run only when the
server's starter names them; a bad adapter ends in a CheckpointError."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.engine import InferenceEngine
from explorer.checkpoint import CheckpointError
from explorer.sources import open_model, open_user_model
from explorer.settings import server_models
from explorer.sources.python import open_registered
from explorer.ui.model_card import card_lines

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_pytorch_model.py"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example, opened the way a user does, trained briefly into a scratch weights file."""
    weights = tmp_path_factory.mktemp("example") / "weights.safetensors"
    old = {k: os.environ.get(k) for k in ("OWN_MODEL_WEIGHTS", "OWN_MODEL_TRAIN_SECONDS")}
    os.environ.update(OWN_MODEL_WEIGHTS=str(weights), OWN_MODEL_TRAIN_SECONDS="3")
    try:
        model = open_model("examples/own_pytorch_model.py" if Path.cwd() == ROOT else EXAMPLE)
        assert weights.is_file()  # trained itself, since the weights were missing
        yield model
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def test_the_example_opens_from_python_and_runs_on_onnxruntime(example, mnist):
    assert example.kind == "python" and example.name == "own-pytorch-autoencoder"
    assert example.input_shape == (1, 28, 28) and example.latent_dim == 16 and not example.is_variational
    x = mnist.x[:200]
    encoder = example.torch_parts().encoder.fn
    with torch.no_grad():
        want = encoder(torch.from_numpy(x.reshape(200, -1))).numpy()
    np.testing.assert_allclose(example.encode(x)[0], want, atol=1e-6)
    engine = InferenceEngine(example, device="cpu")
    assert engine.describe_device() == "CPU, onnxruntime"
    np.testing.assert_allclose(engine.encode(x), want, rtol=1e-5, atol=1e-5)
    reconstructions = engine.reconstruct(x)
    assert reconstructions.shape == x.shape
    assert ((reconstructions - x) ** 2).mean() < 0.06  # it learned something in its few seconds
    card = "\n".join(card_lines(example))
    assert "source: Python adapter `own_pytorch_model.py`" in card and "flattened input" in card


def test_the_example_reopens_with_the_same_hash_and_without_training(example, monkeypatch):
    import importlib

    monkeypatch.setenv("OWN_MODEL_WEIGHTS", os.environ["OWN_MODEL_WEIGHTS"])
    monkeypatch.setenv("OWN_MODEL_TRAIN_SECONDS", "1000")  # would take far too long if it trained again
    again = open_model(EXAMPLE)
    assert again.content_hash == example.content_hash
    importlib.invalidate_caches()


def write_adapter(folder: Path, body: str, name: str = "adapter.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("import torch\nfrom torch import nn\n" + body)
    return path


def test_server_models_come_from_the_command_line_and_the_environment(tmp_path):
    a, b = write_adapter(tmp_path, "", "a.py"), write_adapter(tmp_path, "", "b.py")
    argv = ["--model", str(a), "--other", "x", "--model", str(a)]
    assert server_models(argv, {"LATENT_EXPLORER_MODELS": os.pathsep.join([str(b), str(a), ""])}) == [a, b]
    assert server_models([], {}) == []


def test_only_a_named_adapter_runs(tmp_path):
    marker = tmp_path / "ran"
    path = write_adapter(tmp_path, f"open({str(marker)!r}, 'w').write('ran')\n")
    with pytest.raises(CheckpointError, match="only when the person who starts the server names it"):
        open_registered(path, argv=[], environ={})
    with pytest.raises(CheckpointError, match="never from the browser"):
        open_user_model(path)
    with pytest.raises(CheckpointError, match="never from the browser"):
        open_user_model(tmp_path)  # a folder holding a .py
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="must define explorer_model"):
        open_registered(path, argv=["--model", str(path)], environ={})
    assert marker.exists()  # named: it ran


TINY = """
def explorer_model():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    decoder = nn.Sequential(nn.Linear(3, 48), nn.Tanh())
    return {"encoder": encoder, "decoder": decoder, "input_shape": [3, 4, 4], "input_layout": "NHWC",
            "pixel_range": [-1, 1], "training": {"test_mse": 0.02}}
"""


def test_layout_and_range_are_converted_for_an_adapter(tmp_path):
    model = open_model(write_adapter(tmp_path, TINY))
    assert model.input_shape == (3, 4, 4) and model.layout == "NHWC" and model.pixel_range == (-1.0, 1.0)
    x = np.random.default_rng(0).random((5, 3, 4, 4), dtype=np.float32)
    encoder = model.torch_parts().encoder.fn
    with torch.no_grad():
        want = encoder(torch.from_numpy(x.transpose(0, 2, 3, 1) * 2 - 1)).numpy()
    np.testing.assert_allclose(model.encode(x)[0], want, atol=1e-6)
    images = model.decode(np.zeros((2, 3), np.float32))
    assert images.shape == (2, 3, 4, 4) and images.min() >= 0 and images.max() <= 1  # tanh in [-1, 1] -> [0, 1]
    engine = InferenceEngine(model, device="cpu")
    np.testing.assert_allclose(engine.encode(x), want, rtol=1e-5, atol=1e-5)
    assert "test MSE 0.0200" in "\n".join(card_lines(model))


def test_plain_callables_and_a_vae_adapter(tmp_path):
    model = open_model(write_adapter(tmp_path, """
W = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
def explorer_model():
    return {"encoder": lambda x: (x.reshape(len(x), -1) @ W, torch.zeros(len(x), 4)),
            "decoder": lambda z: torch.sigmoid(z @ W.T), "input_shape": [1, 4, 4]}
"""))
    assert model.is_variational and model.latent_dim == 4 and model.num_parameters is None
    mean, logvar = model.encode(np.ones((2, 1, 4, 4), np.float32))
    assert mean.shape == (2, 4) and np.all(logvar == 0)
    assert InferenceEngine(model, device="cpu").decode(mean).shape == (2, 1, 4, 4)


@pytest.mark.parametrize("body, message", [
    ("raise RuntimeError('boom')\n", "failed while being imported.*boom"),
    ("import sys\nsys.exit(3)\n", "failed while being imported.*SystemExit"),
    ("def explorer_model():\n    return 3\n", "must return a dict"),
    ("def explorer_model():\n    raise KeyError('weights')\n", "explorer_model\\(\\) failed.*weights"),
    ("def explorer_model():\n    return {'encoder': nn.Identity(), 'decoder': nn.Identity()}\n", "must return 'input_shape'"),
    ("def explorer_model():\n    return {'encoder': 1, 'decoder': 2, 'input_shape': [1, 2, 2]}\n", "nn.Modules or callables"),
    ("def explorer_model():\n    return {'encoder': nn.Flatten(), 'decoder': nn.Identity(), 'input_shape': [1, 2, 2],"
     " 'weights': 1}\n", "unknown key"),
    ("def explorer_model():\n    return {'encoder': nn.Flatten(), 'decoder': nn.Linear(4, 3), 'input_shape': [1, 2, 2]}\n",
     "decoder gives|do not run"),
    ("def explorer_model():\n    return {'encoder': nn.Linear(3, 3), 'decoder': nn.Identity(), 'input_shape': [1, 2, 2]}\n",
     "do not run on \\[1, 2, 2\\] images"),
    ("def (:\n", "failed while being imported.*SyntaxError"),
])
def test_a_bad_adapter_is_a_checkpoint_error(tmp_path, body, message):
    with pytest.raises(CheckpointError, match=message):
        open_model(write_adapter(tmp_path, body))


def test_every_pathological_adapter_spec_ends_in_a_checkpoint_error(tmp_path):
    from json_corpus import as_text, corpus, outcomes

    path = write_adapter(tmp_path, """
import json, pathlib
def explorer_model():
    spec = json.loads((pathlib.Path(__file__).parent / "spec.json").read_text())
    if isinstance(spec, dict):
        spec.setdefault("encoder", nn.Flatten())
        spec.setdefault("decoder", nn.Identity())
    return spec
""")
    good = {"input_shape": [1, 4, 4], "input_layout": "flat", "pixel_range": [0, 1], "name": "tiny",
            "training": {"test_mse": 0.1}}
    escaped, loaded = outcomes(path, lambda doc: (tmp_path / "spec.json").write_text(as_text(doc)), corpus(good)[::2])
    assert not escaped, escaped[:10]
    assert loaded > 0
