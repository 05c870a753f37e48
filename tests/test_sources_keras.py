"""The Keras 3 source: the two tutorial autoencoders, built and fitted here, open with codes
equal to Keras's own predict; hostile files end in a CheckpointError and run no code."""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "torch"  # before Keras is imported, as the app does
import keras  # noqa: E402

from explorer.engine import InferenceEngine  # noqa: E402
from explorer.checkpoint import CheckpointError  # noqa: E402
from explorer.sources import open_model  # noqa: E402
from explorer.ui.model_card import card_lines  # noqa: E402
from examples.keras_autoencoders import conv_autoencoder, dense_autoencoder, fitted  # noqa: E402


# --- the two tutorial autoencoders --------------------------------------------------------------
@pytest.fixture(scope="module")
def tutorials(tmp_path_factory, mnist):
    """Both autoencoders fitted a few steps on MNIST and saved: {name: (path, encoder, decoder, x)}."""
    folder = tmp_path_factory.mktemp("keras")
    x = mnist.x[:256]
    out = {}
    for name, build, x_keras in (("dense", dense_autoencoder, x.reshape(len(x), -1)),
                                 ("conv", conv_autoencoder, x.transpose(0, 2, 3, 1))):
        model, encoder, decoder = fitted(build, x)
        path = folder / f"{name}.keras"
        model.save(path)
        out[name] = (path, encoder, decoder, x_keras)
    return out


@pytest.mark.parametrize("name", ["dense", "conv"])
def test_tutorial_autoencoders_open_with_the_codes_keras_predicts(tutorials, mnist, name):
    path, encoder, decoder, x_keras = tutorials[name]
    model = open_model(path)
    assert model.kind == "keras" and model.input_shape == (1, 28, 28) and not model.is_variational
    assert model.latent_dim == (32 if name == "dense" else 392)
    x = mnist.x[:256]
    want = encoder.predict(x_keras, verbose=0).reshape(len(x), -1)
    mean, logvar = model.encode(x)
    assert logvar is None
    np.testing.assert_allclose(mean, want, atol=1e-5, rtol=1e-5)
    engine = InferenceEngine(model, device="cpu")
    assert engine.describe_device() == "CPU, onnxruntime"  # the Keras model exported and runs on onnxruntime
    np.testing.assert_allclose(engine.encode(x), want, atol=1e-5, rtol=1e-5)
    images = decoder.predict(want[:16].reshape(16, *decoder.inputs[0].shape[1:]), verbose=0)
    images = images.reshape(16, 28, 28, 1).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(engine.decode(want[:16]), images, atol=1e-5)
    np.testing.assert_allclose(engine.decode_coalesced(want[0]), images[:1], atol=1e-5)
    torch_engine = InferenceEngine(model, device="cpu", runtime="torch")
    np.testing.assert_allclose(torch_engine.encode(x), want, atol=1e-5, rtol=1e-5)
    card = "\n".join(card_lines(model))
    assert "source: Keras 3" in card and "assumed: pixel range [0, 1]" in card and "sub-models 'encoder' and 'decoder'" in card


def test_an_encoder_file_and_a_decoder_file(tutorials, tmp_path, mnist):
    path, encoder, decoder, x_keras = tutorials["conv"]
    folder = tmp_path / "pair"
    folder.mkdir()
    encoder.save(folder / "encoder.keras")
    decoder.save(folder / "decoder.keras")
    model = open_model(folder)
    assert model.kind == "keras" and model.name == "pair"
    np.testing.assert_allclose(model.encode(mnist.x[:32])[0], encoder.predict(x_keras[:32], verbose=0).reshape(32, -1),
                               atol=1e-5)


def test_a_flat_stack_needs_its_bottleneck_named(tmp_path, mnist):
    keras.utils.set_random_seed(1)
    flat = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu",
                             name="code"), keras.layers.Dense(784, activation="sigmoid"), keras.layers.Reshape((28, 28))])
    flat.save(tmp_path / "flat.keras")
    with pytest.raises(CheckpointError, match=r"'code'.*name the bottleneck layer"):
        open_model(tmp_path / "flat.keras")
    with pytest.raises(CheckpointError, match="no layer named 'nope'"):
        open_model(tmp_path / "flat.keras", bottleneck="nope")
    model = open_model(tmp_path / "flat.keras", bottleneck="code")
    assert model.latent_dim == 16 and model.input_shape == (1, 28, 28)
    x = mnist.x[:8]
    encoder = keras.Model(flat.inputs, flat.get_layer("code").output)
    np.testing.assert_allclose(model.encode(x)[0], encoder.predict(x[:, 0], verbose=0), atol=1e-5)
    np.testing.assert_allclose(model.decode(model.encode(x)[0])[:, 0], flat.predict(x[:, 0], verbose=0), atol=1e-5)


def test_a_keras_vae_with_mean_and_log_variance_outputs(tmp_path, mnist):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((784,))
    h = keras.layers.Dense(32, activation="relu")(inputs)
    encoder = keras.Model(inputs, [keras.layers.Dense(4, name="z_mean")(h), keras.layers.Dense(4, name="z_log_var")(h)],
                          name="encoder")
    decoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(784, activation="sigmoid")], name="decoder")
    folder = tmp_path / "vae"
    folder.mkdir()
    encoder.save(folder / "encoder.keras")
    decoder.save(folder / "decoder.keras")
    model = open_model(folder)
    assert model.is_variational and model.latent_dim == 4
    mean, logvar = model.encode(mnist.x[:8])
    want_mean, want_logvar = encoder.predict(mnist.x[:8].reshape(8, -1), verbose=0)
    np.testing.assert_allclose(mean, want_mean, atol=1e-5)
    np.testing.assert_allclose(logvar, want_logvar, atol=1e-5)


# --- hostile files ---------------------------------------------------------------------------------
def rewrite(path: Path, out: Path, edit_config=None, extra: dict[str, bytes] | None = None) -> Path:
    """A copy of the .keras archive at ``path`` with its config edited and members added."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json" and edit_config is not None:
                data = json.dumps(edit_config(json.loads(data))).encode()
            dst.writestr(item.filename, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return out


def first_dense(config: dict) -> dict:
    stack = [config]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            if item.get("class_name") == "Dense":
                return item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    raise AssertionError("no Dense layer in the config")


def test_a_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "lambda-ran"
    payload = f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(eval(payload)), keras.layers.Dense(2)])
    model.save(tmp_path / "lambda.keras")
    marker.unlink(missing_ok=True)  # saving traced the function once
    with pytest.raises(CheckpointError, match="Lambda layer holds Python code"):
        open_model(tmp_path / "lambda.keras")
    assert not marker.exists()


def test_a_registered_custom_layer_is_refused_and_never_built(tmp_path):
    marker = tmp_path / "custom-ran"

    @keras.saving.register_keras_serializable(package="Evil")
    class Evil(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if os.environ.get("EVIL_ARMED"):
                marker.write_text("ran")

        def call(self, x):
            return x

    encoder = keras.Sequential([keras.Input((4,)), Evil(), keras.layers.Dense(2)], name="encoder")
    decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)], name="decoder")
    keras.Sequential([encoder, decoder]).save(tmp_path / "custom.keras")
    os.environ["EVIL_ARMED"] = "1"  # Keras could build the class: it is registered in this process
    try:
        with pytest.raises(CheckpointError, match="refused: 'Evil' comes from the module 'test_sources_keras', outside Keras"):
            open_model(tmp_path / "custom.keras")
    finally:
        del os.environ["EVIL_ARMED"]
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("os", "system"), ("builtins", "eval"), ("subprocess", "Popen"),
                                          ("kerasx.layers", "Dense"), (None, "NotAKerasLayer")])
def test_objects_from_outside_keras_are_refused(tutorials, tmp_path, module, name):
    marker = tmp_path / "module-ran"

    def edit(config):
        layer = first_dense(config)
        layer["module"], layer["class_name"] = module, name
        layer["config"] = {"command": f"touch {marker}"}
        return config

    path = rewrite(tutorials["dense"][0], tmp_path / "foreign.keras", edit)
    with pytest.raises(CheckpointError, match=f"{name}.*(outside Keras|not a class Keras provides)"):
        open_model(path)
    assert not marker.exists()


def test_a_registered_name_that_is_not_the_keras_class_is_refused(tutorials, tmp_path):
    def edit(config):
        first_dense(config)["registered_name"] = "Evil>Dense"
        return config

    with pytest.raises(CheckpointError, match="'Evil>Dense' is a custom \\(registered\\) object"):
        open_model(rewrite(tutorials["dense"][0], tmp_path / "reg.keras", edit))


def test_a_function_that_is_not_a_keras_activation_is_refused(tutorials, tmp_path):
    def edit(config):
        first_dense(config)["config"]["activation"] = {"module": "keras.src.saving.serialization_lib",
                                                       "class_name": "function", "config": "deserialize_keras_object",
                                                       "registered_name": "function"}
        return config

    with pytest.raises(CheckpointError, match="not one of Keras's activations"):
        open_model(rewrite(tutorials["dense"][0], tmp_path / "fn.keras", edit))


def test_a_torch_module_wrapper_which_would_unpickle_is_refused(tutorials, tmp_path):
    def edit(config):
        first_dense(config)["class_name"] = "TorchModuleWrapper"
        return config

    with pytest.raises(CheckpointError, match="TorchModuleWrapper.*unpickling"):
        open_model(rewrite(tutorials["dense"][0], tmp_path / "tmw.keras", edit))


def test_a_zip_bomb_is_refused_unread(tutorials, tmp_path):
    bomb = rewrite(tutorials["dense"][0], tmp_path / "bomb.keras", extra={"assets/zeros": bytes(64 * 2**20)})
    assert bomb.stat().st_size < tutorials["dense"][0].stat().st_size + 2**20  # 64 MB of zeros in well under 1 MB
    with pytest.raises(CheckpointError, match="zip bomb"):
        open_model(bomb)
    # A central directory that claims more than it holds is refused on the claim alone.
    raw = bytearray(tutorials["dense"][0].read_bytes())
    directory = raw.rfind(b"PK\x01\x02")  # the last member's central directory entry
    raw[directory + 24: directory + 28] = (2**32 - 1).to_bytes(4, "little")  # its uncompressed size
    (tmp_path / "claims.keras").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="zip bomb|unpack to"):
        open_model(tmp_path / "claims.keras")


def test_unexpected_and_unsafe_members_are_refused(tutorials, tmp_path):
    with pytest.raises(CheckpointError, match="'payload.py', which a .keras model does not have"):
        open_model(rewrite(tutorials["dense"][0], tmp_path / "extra.keras", extra={"payload.py": b"import os"}))
    with pytest.raises(CheckpointError, match="unsafe name"):
        open_model(rewrite(tutorials["dense"][0], tmp_path / "slip.keras", extra={"assets/../../x": b"x"}))


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.6, 0.95, 0.999])
def test_truncated_archives_are_refused(tutorials, tmp_path, fraction):
    raw = tutorials["dense"][0].read_bytes()
    (tmp_path / "cut.keras").write_bytes(raw[: int(len(raw) * fraction)])
    with pytest.raises(CheckpointError, match="cut.keras"):
        open_model(tmp_path / "cut.keras")


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_are_refused(tmp_path, seed):
    data = np.random.default_rng(seed).bytes(5000)
    (tmp_path / "noise.keras").write_bytes(data if seed % 2 else b"PK\x03\x04" + data)
    with pytest.raises(CheckpointError, match="noise.keras"):
        open_model(tmp_path / "noise.keras")


def test_every_pathological_config_ends_in_a_checkpoint_error(tutorials, tmp_path):
    from json_corpus import HOSTILE_VALUES, as_text, corpus, outcomes

    path = tutorials["dense"][0]
    with zipfile.ZipFile(path) as z:
        good = json.loads(z.read("config.json"))
    values = [v for v in HOSTILE_VALUES if v[0] in
              ("null", "huge-int", "nan", "string", "empty-list", "empty-dict", "list-of-huge", "minus-one")]
    entries = corpus(good, values)[::9]
    target = tmp_path / "corpus.keras"

    def write(document) -> None:  # the tutorial archive with this config.json
        buf = io.BytesIO()
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w") as dst:
            for item in src.infolist():
                dst.writestr(item.filename, as_text(document).encode() if item.filename == "config.json"
                             else src.read(item))
        target.write_bytes(buf.getvalue())

    escaped, loaded = outcomes(target, write, entries)
    assert not escaped, escaped[:10]
    assert len(entries) > 100 and loaded > 0
