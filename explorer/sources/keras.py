"""The Keras 3 source: ``.keras`` files, read by Keras on its PyTorch backend (no TensorFlow).

Either one autoencoder file whose two sub-models are the encoder and the decoder (the way
tutorials build ``keras.Sequential([encoder, decoder])`` or
``keras.Model(inputs, decoder(encoder(inputs)))``), or a folder with ``encoder.keras`` +
``decoder.keras``. Where the split is not evident (one flat stack of layers), the user names
the bottleneck layer: the layer whose output is the code.

Before Keras reads a byte, our code checks the archive and its ``config.json``: the members,
their declared sizes (a zip bomb is refused unread; reading never goes past a declared size)
and every object the config names: only classes that Keras itself provides, from modules of
Keras; a ``Lambda`` layer (Python code), a wrapper that unpickles (``TorchModuleWrapper``) or
loads other formats, a custom or registered object, or a module outside Keras is refused with a
message that names it. Keras then loads with ``safe_mode=True`` and ``compile=False`` from
the checked bytes in memory, not from the file again.
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..safe_read import CheckpointError, parse_config_text, read_limited
from ..model_contract import Model, TorchParts, TrainingRecord, checked_shape, square_shape

MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # all members together, as declared
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_MEMBERS = 64
MAX_CONFIG_DEPTH = 64
MAX_RATIO = 200  # declared size / compressed size of one member beyond 1 MB
ENCODER_FILE, DECODER_FILE = "encoder.keras", "decoder.keras"
MEMBERS = {"config.json", "metadata.json", "model.weights.h5", "model.weights.npz"}
# Keras classes that run Python code or read other formats when they are deserialised.
REFUSED_CLASSES = {"Lambda": "a Lambda layer holds Python code",
                   "TorchModuleWrapper": "it restores a PyTorch module by unpickling",
                   "JaxLayer": "it wraps JAX code", "FlaxLayer": "it wraps Flax code",
                   "TFSMLayer": "it loads a TensorFlow SavedModel", "__lambda__": "a lambda function holds Python code"}
# Markers Keras writes for values, not objects to look up.
VALUE_MARKERS = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__",
                 "__typespec__"}
FUNCTION_NAMESPACES = ("activations", "losses", "metrics")


# --- checks before Keras reads anything ---------------------------------------------------------
def check_archive(raw: bytes, what: str) -> dict:
    """The archive's config.json, parsed, once the archive and config pass every check."""
    if not raw:
        raise CheckpointError(f"{what}: the file is empty")
    if not raw.startswith(b"PK"):
        raise CheckpointError(f"{what}: not a .keras file (a .keras file is a zip archive; this one is not)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise CheckpointError(f"{what}: not a readable .keras archive (truncated or damaged: {e})") from None
    if len(members) > MAX_MEMBERS:
        raise CheckpointError(f"{what}: the archive holds {len(members):,} files; a .keras file holds a few")
    total = 0
    names = set()
    for m in members:
        name = m.filename
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or "\x00" in name:
            raise CheckpointError(f"{what}: the archive holds a file with an unsafe name ({name[:80]!r})")
        if name not in MEMBERS and not name.startswith("assets/"):
            raise CheckpointError(f"{what}: the archive holds {name[:80]!r}, which a .keras model does not have")
        if m.flag_bits & 0x1:
            raise CheckpointError(f"{what}: the archive is encrypted")
        if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"{what}: {name!r} uses a compression this app does not read")
        total += m.file_size
        if m.file_size > 2**20 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise CheckpointError(f"{what}: {name!r} would unpack to {m.file_size / 2**20:,.0f} MB from "
                                  f"{m.compress_size / 2**10:,.0f} KB: refused as a zip bomb")
        names.add(name)
    if total > MAX_UNPACKED_BYTES:
        raise CheckpointError(f"{what}: the archive would unpack to {total / 2**20:,.0f} MB, more than the "
                              f"{MAX_UNPACKED_BYTES // 2**20} MB allowed: refused as a zip bomb")
    if "config.json" not in names:
        raise CheckpointError(f"{what}: the archive has no config.json: not a Keras 3 model file")
    info = archive.getinfo("config.json")
    if info.file_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{what}: its config.json is {info.file_size / 2**20:,.0f} MB, more than allowed")
    try:
        with archive.open(info) as f:
            text = f.read(MAX_CONFIG_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{what}: its config.json cannot be read (truncated or damaged: {e})") from None
    try:
        text = text.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{what}: its config.json is not UTF-8 text") from None
    config = parse_config_text(text, f"{what}: its config.json")
    check_config(config, what)
    return config


def _keras_classes() -> dict[str, set[str]]:
    """Names Keras itself provides, by namespace (the public API, never a user's module)."""
    keras = import_keras()

    spaces = {"layers": keras.layers, "models": keras.models, "initializers": keras.initializers,
              "regularizers": keras.regularizers, "constraints": keras.constraints, "losses": keras.losses,
              "metrics": keras.metrics, "optimizers": keras.optimizers, "schedules": keras.optimizers.schedules,
              "dtype_policies": keras.dtype_policies, "activations": keras.activations, "keras": keras}
    names = {k: {n for n in dir(v) if not n.startswith("_")} for k, v in spaces.items()}
    names["models"] |= {"Functional", "Sequential", "Model"}
    return names


def check_config(config: dict, what: str) -> None:
    """Refuse any object reference in ``config`` that Keras does not provide itself."""
    allowed = set().union(*_keras_classes().values())
    functions = {n for space in FUNCTION_NAMESPACES for n in _keras_classes()[space]}
    stack = [(config, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise CheckpointError(f"{what}: its config.json is nested more than {MAX_CONFIG_DEPTH} levels deep")
        if isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
            continue
        if not isinstance(item, dict):
            continue
        stack.extend((v, depth + 1) for v in item.values())
        if "class_name" not in item and "module" not in item and "registered_name" not in item:
            continue
        cls, module, registered = item.get("class_name"), item.get("module"), item.get("registered_name")
        label = f"{module}.{cls}" if module else str(cls)
        if not isinstance(cls, str) or (module is not None and not isinstance(module, str)) \
                or (registered is not None and not isinstance(registered, str)):
            raise CheckpointError(f"{what}: its config names an object with a malformed class or module "
                                  f"({str(cls)[:60]!r}, {str(module)[:60]!r})")
        if cls in REFUSED_CLASSES:
            raise CheckpointError(f"{what}: refused: the model uses {cls} ({REFUSED_CLASSES[cls]}); this app never "
                                  "runs code from a model file")
        if cls in VALUE_MARKERS:
            continue
        if module is not None and module != "keras" and not module.startswith("keras."):
            raise CheckpointError(f"{what}: refused: {cls[:60]!r} comes from the module {module[:80]!r}, outside Keras; "
                                  "only Keras's own layers are loaded (no custom code)")
        if cls == "function":
            name = item.get("config")
            if not (isinstance(module, str) and any(s in module.split(".") for s in FUNCTION_NAMESPACES)
                    and isinstance(name, str) and name in functions):
                raise CheckpointError(f"{what}: refused: the function {str(name)[:60]!r} from {str(module)[:80]!r} is not "
                                      "one of Keras's activations, losses or metrics")
            continue
        if registered is not None and registered != cls:
            raise CheckpointError(f"{what}: refused: {registered[:80]!r} is a custom (registered) object; only Keras's "
                                  "own layers are loaded")
        if cls not in allowed:
            raise CheckpointError(f"{what}: refused: {label[:100]!r} is not a class Keras provides (a custom object?); "
                                  "only Keras's own layers are loaded")


# --- loading --------------------------------------------------------------------------------------
def import_keras():
    """Keras on the PyTorch backend; the backend is chosen before Keras is first imported."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"
    import keras

    if keras.backend.backend() != "torch":
        raise CheckpointError(f"Keras was started with the {keras.backend.backend()!r} backend; this app runs Keras on "
                              "PyTorch (set KERAS_BACKEND=torch)")
    return keras


def load_checked(raw: bytes, what: str):
    """A Keras model from bytes that passed ``check_archive``."""
    keras = import_keras()
    # Keras reads the checked bytes from a private copy, never the user's file a second time.
    with tempfile.TemporaryDirectory(prefix="latent-explorer-keras-") as folder:
        copy = Path(folder) / "model.keras"
        copy.write_bytes(raw)
        try:
            return keras.saving.load_model(copy, safe_mode=True, compile=False)
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"{what}: Keras could not load it ({type(e).__name__}: "
                                  f"{' '.join(str(e).split())[:300]})") from None


def read_model(path: Path):
    raw = read_limited(path, MAX_ARCHIVE_BYTES)
    check_archive(raw, path.name)
    return load_checked(raw, path.name), raw


def _input_shape(model) -> tuple:
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else None
    if shape is None:
        raise CheckpointError(f"{model.name}: the model does not declare its input shape (build it with keras.Input)")
    return tuple(shape)


def split_autoencoder(model, bottleneck: str | None, what: str):
    """(encoder, decoder) of a one-file autoencoder."""
    keras = import_keras()
    if bottleneck:
        return split_at(model, bottleneck, what)
    subs = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(subs) == 2 and len(model.layers) - len(subs) <= 1:
        return subs[0], subs[1]
    names = [layer.name for layer in model.layers]
    raise CheckpointError(f"{what}: cannot tell the encoder from the decoder (its layers are {names[:12]}"
                          f"{' …' if len(names) > 12 else ''}); name the bottleneck layer, the one whose output is "
                          "the code, or save the encoder and decoder as encoder.keras + decoder.keras")


def split_at(model, bottleneck: str, what: str):
    keras = import_keras()
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    names = [layer.name for layer in layers]
    if bottleneck not in names:
        raise CheckpointError(f"{what}: no layer named {bottleneck[:60]!r}; its layers are {names[:20]}")
    if not isinstance(model, keras.Sequential):
        for layer in layers:
            if len(getattr(layer, "_inbound_nodes", [])) > 1 or len(keras.tree.flatten(layer.input)) != 1:
                raise CheckpointError(f"{what}: a bottleneck can be named only in a plain stack of layers; save the "
                                      "encoder and decoder as separate models instead")
    cut = names.index(bottleneck) + 1
    if cut == len(layers):
        raise CheckpointError(f"{what}: {bottleneck!r} is the last layer: nothing is left for the decoder")
    inputs = keras.Input(shape=_input_shape(model)[1:])
    h = inputs
    for layer in layers[:cut]:
        h = layer(h)
    encoder = keras.Model(inputs, h, name="encoder")
    code = keras.Input(shape=tuple(h.shape[1:]))
    h = code
    for layer in layers[cut:]:
        h = layer(h)
    return encoder, keras.Model(code, h, name="decoder")


def image_shape(shape: tuple, what: str) -> tuple[tuple[int, int, int], str]:
    """The image [C, H, W] and how Keras holds it: "flat" (N, C*H*W), "hw" (N, H, W) or NHWC."""
    dims = shape[1:]
    if not all(isinstance(d, int) and d > 0 for d in dims):
        raise CheckpointError(f"{what}: the encoder's input shape {list(shape)} is not fully declared")
    if len(dims) == 1:
        square = square_shape(dims[0])
        if square is None:
            raise CheckpointError(f"{what}: a flat input of {dims[0]} values is not a square image")
        return square, "flat"
    if len(dims) == 2:
        return checked_shape([1, dims[0], dims[1]], what), "hw"
    if len(dims) == 3:
        return checked_shape([dims[2], dims[0], dims[1]], what), "NHWC"
    raise CheckpointError(f"{what}: the encoder's input shape {list(shape)} is not an image")


# --- the contract ---------------------------------------------------------------------------------
class KerasEncoder(nn.Module):
    """x (N, C, H, W) in [0, 1] -> (mean,) or (mean, logvar) through a Keras encoder."""

    def __init__(self, keras_model, form: str, shape, mean: int, logvar: int | None):
        super().__init__()
        self.keras_model = keras_model
        self.form, self.shape, self.mean, self.logvar = form, tuple(shape), mean, logvar

    def forward(self, x):
        n = x.shape[0]
        if self.form == "flat":
            x = x.permute(0, 2, 3, 1).reshape(n, -1)
        elif self.form == "hw":
            x = x[:, 0]
        else:
            x = x.permute(0, 2, 3, 1)
        out = self.keras_model(x, training=False)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        mean = outs[self.mean].reshape(n, -1)
        return (mean,) if self.logvar is None else (mean, outs[self.logvar].reshape(n, -1))


class KerasDecoder(nn.Module):
    """z (N, D) -> (N, C, H, W) through a Keras decoder that gives NHWC images."""

    def __init__(self, keras_model, shape, code_shape):
        super().__init__()
        self.keras_model = keras_model
        self.shape, self.code_shape = tuple(shape), tuple(code_shape)

    def forward(self, z):
        y = self.keras_model(z.reshape(z.shape[0], *self.code_shape), training=False)
        y = y[0] if isinstance(y, (list, tuple)) else y
        c, h, w = self.shape
        return y.reshape(z.shape[0], h, w, c).permute(0, 3, 1, 2)


class KerasModel(Model):
    kind = "keras"

    def __init__(self, path: Path, encoder, decoder, name: str, content_hash: str, how: str):
        super().__init__()
        self.path, self.name, self.content_hash = path, name, content_hash
        self.model_type = "keras"
        self.keras_encoder, self.keras_decoder = encoder, decoder
        shape, form = image_shape(_input_shape(encoder), name)
        self.input_shape = shape
        self.layout = "NHWC" if form == "NHWC" else "NCHW"
        self.form = form
        self.inferred.append("pixel range [0, 1] (Keras files do not declare one)")
        if form != "NHWC":
            self.inferred.append(f"input {'flattened' if form == 'flat' else 'without a channel axis'} "
                                 f"({list(_input_shape(encoder))}) read as {shape[0]}×{shape[1]}×{shape[2]} images")
        outputs = [t.name if hasattr(t, "name") else str(i) for i, t in enumerate(encoder.outputs)]
        mean, logvar = 0, None
        if len(outputs) > 1:
            low = [o.lower() for o in outputs]
            mean = next((i for i, o in enumerate(low) if "mean" in o or o.endswith("mu")), 0)
            logvar = next((i for i, o in enumerate(low) if "log_var" in o or "logvar" in o or "log_sigma" in o), None)
            if logvar is None and len(outputs) in (2, 3):
                logvar = 1 if mean == 0 else 0
            self.inferred.append(f"encoder output {mean} is the code" +
                                 (f", output {logvar} the log-variance" if logvar is not None else ""))
        self.is_variational = logvar is not None
        dec_in = _input_shape(decoder)
        if not all(isinstance(d, int) and d > 0 for d in dec_in[1:]):
            raise CheckpointError(f"{name}: the decoder's input shape {list(dec_in)} is not fully declared")
        self._parts = TorchParts(KerasEncoder(encoder, form, shape, mean, logvar), KerasDecoder(decoder, shape, dec_in[1:]))
        with torch.no_grad():
            code = self._parts.encoder(torch.full((1, *shape), 0.5))
        self.latent_dim = int(code[0].shape[1])
        if int(np.prod(dec_in[1:])) != self.latent_dim:
            raise CheckpointError(f"{name}: the decoder takes {list(dec_in)}, the encoder gives {self.latent_dim}-d codes")
        if len(dec_in) > 2:
            self.inferred.append(f"the code is the encoder's {'×'.join(map(str, dec_in[1:]))} output, flattened")
        with torch.no_grad():
            image = self._parts.decoder(torch.zeros(1, self.latent_dim))
        if tuple(image.shape[1:]) != shape:
            raise CheckpointError(f"{name}: the decoder gives images of shape {list(image.shape[1:])}, the encoder takes "
                                  f"{list(shape)}")
        self.num_parameters = int(encoder.count_params() + decoder.count_params())
        self.origin = f"Keras 3 ({how})"
        self.training = TrainingRecord()

    def torch_parts(self) -> TorchParts:
        return self._parts


def open_keras(path: str | Path, bottleneck: str | None = None) -> KerasModel:
    path = Path(path)
    digest = hashlib.sha256(b"keras")
    if path.is_dir():
        missing = [f for f in (ENCODER_FILE, DECODER_FILE) if not (path / f).is_file()]
        if missing:
            raise CheckpointError(f"{path.name}: the folder has no {' and no '.join(missing)}: a Keras model here is "
                                  f"one autoencoder .keras file or {ENCODER_FILE} + {DECODER_FILE}")
        encoder, raw_e = read_model(path / ENCODER_FILE)
        decoder, raw_d = read_model(path / DECODER_FILE)
        digest.update(raw_e + raw_d)
        how = f"{ENCODER_FILE} + {DECODER_FILE}"
        name = path.name
    else:
        model, raw = read_model(path)
        digest.update(raw + (bottleneck or "").encode())
        encoder, decoder = split_autoencoder(model, bottleneck, path.name)
        how = (f"`{path.name}`, split after layer {bottleneck!r}" if bottleneck
               else f"`{path.name}`, sub-models {encoder.name!r} and {decoder.name!r}")
        name = path.stem
    try:
        return KerasModel(path, encoder, decoder, name, digest.hexdigest(), how)
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path.name}: the Keras model does not run as an autoencoder here "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None


def is_keras_archive(raw: bytes) -> bool:
    return raw[:2] == b"PK"


__all__: list[Any] = ["open_keras", "KerasModel", "check_archive", "check_config"]
