"""Every page renders on a model from each new source, opened the way a user does: a typed path
to an ONNX folder and to a .keras file, and an adapter the server's starter named."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["map", "interpolate", "sample", "arithmetic", "sliders", "compare", "upload", "anomaly"]
TIMEOUT = 240


@pytest.fixture(scope="module")
def models(tmp_path_factory, mnist):
    """{kind: path} of an ONNX export of mnist-ae and the Dense Keras tutorial autoencoder."""
    from explorer.sources import open_model
    from explorer.sources.export import export_onnx

    root = tmp_path_factory.mktemp("own-models")
    onnx_folder = export_onnx(open_model(ROOT / "checkpoints" / "mnist-ae"), root / "mnist-ae-onnx",
                              exporters=("torchscript",))
    from examples.keras_autoencoders import conv_autoencoder, dense_autoencoder, fitted

    fitted(dense_autoencoder, mnist.x[:512])[0].save(root / "dense.keras")
    fitted(conv_autoencoder, mnist.x[:256])[0].save(root / "conv.keras")
    return root, {"onnx": onnx_folder, "keras": root / "dense.keras", "keras-conv": root / "conv.keras"}


def every_page(at: AppTest) -> None:
    for page in PAGES:
        at.switch_page(f"explorer/ui/pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])


@pytest.mark.parametrize("kind", ["onnx", "keras", "keras-conv"])
def test_every_page_renders_on_a_typed_path_to_an_own_model(models, kind, monkeypatch):
    root, paths = models
    monkeypatch.setenv("LATENT_EXPLORER_ROOTS", str(root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["ckpt_path"] = str(paths[kind])
    at.query_params["data"] = "mnist"
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    card = " ".join(c.value for c in at.sidebar.caption)
    assert {"onnx": "source: ONNX folder", "keras": "source: Keras 3", "keras-conv": "source: Keras 3"}[kind] in card
    assert "CPU, onnxruntime" in card
    if kind.startswith("keras"):
        assert "assumed: pixel range [0, 1]" in card
    every_page(at)
    assert np.isfinite(at.session_state["context"].engine.decode(np.zeros((1, at.session_state["context"].engine.latent_dim), np.float32))).all()


def test_every_page_renders_on_the_example_adapter_named_by_the_server(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(ROOT / "examples" / "own_pytorch_model.py"))
    monkeypatch.setenv("OWN_MODEL_WEIGHTS", str(tmp_path / "weights.safetensors"))
    monkeypatch.setenv("OWN_MODEL_TRAIN_SECONDS", "3")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert "own_pytorch_model" in at.sidebar.multiselect[0].options  # listed by name, not yet run
    assert not (tmp_path / "weights.safetensors").exists()
    at.sidebar.multiselect[0].set_value(["own_pytorch_model"]).run()
    assert not at.exception, at.exception
    card = " ".join(c.value for c in at.sidebar.caption)
    assert "source: Python adapter `own_pytorch_model.py`" in card and "CPU, onnxruntime" in card
    every_page(at)


def test_a_python_file_typed_in_the_browser_is_refused_and_not_run(monkeypatch, tmp_path):
    marker = tmp_path / "ran"
    adapter = tmp_path / "adapter.py"
    adapter.write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef explorer_model():\n    return {{}}\n")
    monkeypatch.setenv("LATENT_EXPLORER_ROOTS", str(tmp_path))
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(adapter))  # even one the starter named: not by typing it
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["ckpt_path"] = str(adapter)
    at.run()
    assert not at.exception
    assert any("never from the browser" in e.value for e in at.sidebar.error)
    assert not marker.exists()
    at.switch_page("explorer/ui/pages/sliders.py").run()  # the other views keep working on the shipped model
    assert not at.exception and not at.main.error and at.main.title[0].value == "Sliders"
