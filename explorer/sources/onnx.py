"""The ONNX source: a folder with ``encoder.onnx`` + ``decoder.onnx`` (+ optional ``explorer.json``).

Nothing in the files runs as code: graphs run in onnxruntime's CPU provider, and before that
our own checks read each graph (and its subgraphs and functions): operators only from the
standard domains (no custom-op libraries), external data only in files inside the folder
(no absolute paths, no ``..``, no links out), declared shapes within bounds.

``explorer.json`` (every key optional)::

    {"name": "my-vae", "input_shape": [1, 28, 28], "layout": "NCHW",   # or "NHWC"
     "pixel_range": [0, 1],            # or [-1, 1] or [0, 255]: the encoder's input and the decoder's output
     "mean_output": "mean",            # encoder output (name or index) that is the code / the mean
     "logvar_output": "logvar",        # the log-variance output, or null for a deterministic encoder
     "latent_dim": 16, "training": {...}}   # "training": figures shown in the model card

Whatever it does not say is inferred from what the graphs declare (and a probe run), and the
model card lists each assumption. The graphs may take any batch size (a dynamic first axis) or
exactly one image / code at a time.
"""
from __future__ import annotations

import hashlib
import math
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .. import runtimes
from ..model_contract import PIXEL_RANGES, Model, TrainingRecord, checked_latent, checked_shape, square_shape
from ..runtimes import Io, OnnxRunner, images_to_model
from ..safe_read import CheckpointError, parse_config_text, read_limited

ENCODER_FILE, DECODER_FILE, SPEC_FILE = "encoder.onnx", "decoder.onnx", "explorer.json"
SPEC_FORMAT = "latent-explorer-onnx/1"
MAX_ONNX_BYTES = 512 * 1024 * 1024
MAX_SPEC_BYTES = 1024 * 1024
MAX_DIM = 1 << 20  # one declared axis
MAX_TENSOR_VALUES = 1 << 31  # one declared initializer
ALLOWED_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}  # built into onnxruntime; no custom-op library is ever loaded
SPEC_KEYS = {"format", "name", "input_shape", "layout", "pixel_range", "mean_output", "logvar_output", "latent_dim",
             "variational", "training", "source"}
MEAN_NAMES = re.compile(r"(^|[^a-z])(mean|mu|z_mean|loc|code|z|latent|encoded|embedding)s?($|[^a-z])", re.I)
LOGVAR_NAMES = re.compile(r"log_?var|logvar|log_?sigma|logstd|log_?variance", re.I)
FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


class OnnxModel(Model):
    kind = "onnx"

    def __init__(self, folder: Path, runner: OnnxRunner, name: str, content_hash: str, is_variational: bool,
                 training: TrainingRecord, inferred: list[str], declared: list[str]):
        super().__init__()
        self.path = folder
        self.runner = runner
        self.name = name
        self.content_hash = content_hash
        self.input_shape = runner.input_shape
        self.latent_dim = runner.latent_dim
        self.is_variational = is_variational
        self.layout, self.pixel_range = runner.layout, runner.pixel_range
        self.model_type = "onnx"
        self.training = training
        self.inferred = inferred
        said = f" ({', '.join(declared)} from {SPEC_FILE})" if declared else f" (no {SPEC_FILE})"
        self.origin = f"ONNX folder `{folder.name}`{said}"

    def onnx_runner(self, threads: int | None = None) -> OnnxRunner:
        return self.runner

    def encode(self, x):
        out = self.runner.encode(np.asarray(x, dtype=np.float32))
        return out[0], (out[1] if len(out) > 1 else None)

    def decode(self, z):
        return self.runner.decode(np.atleast_2d(np.asarray(z, dtype=np.float32)))[0]



# --- reading ------------------------------------------------------------------------------
def open_onnx(path: str | Path) -> OnnxModel:
    path = Path(path)
    if path.is_file():
        raise CheckpointError(f"{path.name}: an ONNX model here is a folder holding {ENCODER_FILE} and {DECODER_FILE} "
                              f"(and optionally {SPEC_FILE}), not a single .onnx file")
    missing = [f for f in (ENCODER_FILE, DECODER_FILE) if not (path / f).is_file()]
    if missing:
        raise CheckpointError(f"{path.name}: the folder has no {' and no '.join(missing)}: an ONNX model here is "
                              f"{ENCODER_FILE} + {DECODER_FILE}")
    spec_bytes = read_limited(path / SPEC_FILE, MAX_SPEC_BYTES) if (path / SPEC_FILE).exists() else None
    spec = read_spec(spec_bytes)
    digest = hashlib.sha256(b"onnx")
    graphs = {}
    for file in (ENCODER_FILE, DECODER_FILE):
        raw = read_limited(path / file, MAX_ONNX_BYTES)
        proto = parse_model(raw, file)
        externals = check_model(proto, path, file)
        digest.update(raw)
        for ext in externals:
            digest.update(read_limited(ext, MAX_ONNX_BYTES))
        # With external data the session reads the checked file, which resolves it in the folder.
        graphs[file] = (str(path / file) if externals else runtimes.fused_for_runtime(proto) or raw, proto)
    digest.update(spec_bytes or b"")
    try:
        return build(path, graphs[ENCODER_FILE][0], graphs[DECODER_FILE][0], spec, digest.hexdigest())
    except CheckpointError:
        raise
    except Exception as e:  # onnxruntime's own refusals (invalid graph, unknown op, bad shapes)
        raise CheckpointError(f"{path.name}: onnxruntime cannot run these graphs ({type(e).__name__}: "
                              f"{_short(str(e))})") from None


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def read_spec(raw: bytes | None) -> dict:
    if raw is None:
        return {}
    spec = parse_config_text(raw.decode("utf-8", "replace"), SPEC_FILE)
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise CheckpointError(f"{SPEC_FILE}: unknown key(s) {', '.join(repr(k)[:40] for k in unknown[:5])}; "
                              f"known: {', '.join(sorted(SPEC_KEYS))}")
    if "format" in spec and spec["format"] != SPEC_FORMAT:
        raise CheckpointError(f"{SPEC_FILE}: format {str(spec['format'])[:40]!r} is not {SPEC_FORMAT!r}")
    if "name" in spec and (not isinstance(spec["name"], str) or not spec["name"].strip() or len(spec["name"]) > 200):
        raise CheckpointError(f"{SPEC_FILE}: 'name' must be a non-empty string of at most 200 characters")
    if "input_shape" in spec:
        spec["input_shape"] = checked_shape(spec["input_shape"], SPEC_FILE)
    if "layout" in spec and spec["layout"] not in ("NCHW", "NHWC"):
        raise CheckpointError(f"{SPEC_FILE}: 'layout' must be \"NCHW\" or \"NHWC\", got {str(spec['layout'])[:40]!r}")
    if "pixel_range" in spec:
        spec["pixel_range"] = pixel_range_of(spec["pixel_range"])
    for key in ("mean_output", "logvar_output"):
        value = spec.get(key)
        if key in spec and not (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)
                                                           and 0 <= value < 64) or (value is None and key == "logvar_output")):
            raise CheckpointError(f"{SPEC_FILE}: '{key}' must be an output name or index"
                                  f"{' or null' if key == 'logvar_output' else ''}, got {str(value)[:40]!r}")
    if "latent_dim" in spec:
        spec["latent_dim"] = checked_latent(spec["latent_dim"], SPEC_FILE)
    if "variational" in spec and not isinstance(spec["variational"], bool):
        raise CheckpointError(f"{SPEC_FILE}: 'variational' must be true or false")
    for key in ("training", "source"):
        if key in spec and not isinstance(spec[key], dict):
            raise CheckpointError(f"{SPEC_FILE}: '{key}' must be an object")
    return spec


def pixel_range_of(value: Any) -> tuple[float, float]:
    if isinstance(value, str) and value.replace(" ", "") in PIXEL_RANGES:
        return PIXEL_RANGES[value.replace(" ", "")]
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                           for v in value):
        pair = (float(value[0]), float(value[1]))
        if pair in PIXEL_RANGES.values():
            return pair
    raise CheckpointError(f"{SPEC_FILE}: 'pixel_range' must be [0, 1], [-1, 1] or [0, 255], got {str(value)[:40]}")


def parse_model(raw: bytes, what: str):
    import onnx
    from google.protobuf.message import DecodeError

    if not raw:
        raise CheckpointError(f"{what}: the file is empty")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(raw)
    except (DecodeError, RecursionError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{what}: not an ONNX model (it does not parse: {_short(str(e), 120) or 'truncated or random bytes'})") from None
    if not proto.HasField("graph") or not proto.graph.node or proto.ir_version <= 0:
        raise CheckpointError(f"{what}: not an ONNX model (no graph with operators in it; truncated or random bytes?)")
    return proto


def check_model(proto, folder: Path, what: str) -> list[Path]:
    """Refuse what onnxruntime should never be asked to load; returns the external data files."""
    import onnx

    local_functions = {(f.domain, f.name) for f in proto.functions}
    imported = {op.domain for op in proto.opset_import}
    foreign = sorted(d for d in imported if d not in ALLOWED_DOMAINS and d not in {f[0] for f in local_functions})
    nodes = runtimes.all_nodes(proto)
    for node in nodes:
        if node.domain not in ALLOWED_DOMAINS and (node.domain, node.op_type) not in local_functions:
            foreign.append(node.domain)
    if foreign:
        domain = sorted(set(foreign))[0]
        raise CheckpointError(f"{what}: uses operators from the custom domain {domain[:80]!r}; only standard ONNX "
                              "operators run here (custom-op libraries are never loaded)")
    externals: list[Path] = []
    root = folder.resolve()
    tensors = [t for g in runtimes.all_graphs(proto.graph) for t in g.initializer]
    tensors += [a.t for n in nodes for a in n.attribute if a.type == onnx.AttributeProto.TENSOR]
    tensors += [s.values for g in runtimes.all_graphs(proto.graph) for s in g.sparse_initializer]
    for t in tensors:
        if any(d < 0 for d in t.dims) or math.prod(t.dims) > MAX_TENSOR_VALUES:
            raise CheckpointError(f"{what}: tensor {t.name[:80]!r} declares a shape of {list(t.dims)[:8]}: too large or negative")
        if t.data_location == onnx.TensorProto.EXTERNAL:
            externals.append(external_file(t, root, what))
    for g in runtimes.all_graphs(proto.graph):
        for info in list(g.input) + list(g.output) + list(g.value_info):
            dims = [d.dim_value for d in info.type.tensor_type.shape.dim if d.HasField("dim_value")]
            if any(d < 0 or d > MAX_DIM for d in dims) or (dims and math.prod(dims) > MAX_TENSOR_VALUES):
                raise CheckpointError(f"{what}: {info.name[:80]!r} declares the shape {dims[:8]}, beyond what this app "
                                      f"accepts (each axis at most {MAX_DIM:,})")
    return sorted(set(externals))


def external_file(tensor, root: Path, what: str) -> Path:
    entries = {e.key: e.value for e in tensor.external_data}
    location = entries.get("location", "")
    name = tensor.name[:80]
    if not location:
        raise CheckpointError(f"{what}: tensor {name!r} is stored externally without a location")
    rel = Path(location)
    if rel.is_absolute() or location.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", location):
        raise CheckpointError(f"{what}: tensor {name!r} points to external data at an absolute path ({location[:120]}); "
                              "external data must be a file inside the model's folder")
    if ".." in re.split(r"[\\/]", location):
        raise CheckpointError(f"{what}: tensor {name!r} points to external data outside its folder ({location[:120]}); "
                              "external data must be a file inside the model's folder")
    target = (root / rel).resolve()
    if root not in target.parents:
        raise CheckpointError(f"{what}: tensor {name!r} points to external data outside its folder (through a link: "
                              f"{location[:120]})")
    try:
        info = target.stat()
    except OSError:
        raise CheckpointError(f"{what}: tensor {name!r} points to external data {location[:120]!r}, which is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{what}: tensor {name!r}'s external data {location[:120]!r} is not a regular file")
    for key in ("offset", "length"):
        if key in entries and (not entries[key].isdigit() or int(entries[key]) > info.st_size):
            raise CheckpointError(f"{what}: tensor {name!r}'s external data {key} {entries[key][:40]!r} does not fit "
                                  f"the file ({info.st_size:,} bytes)")
    return target


# --- inferring the contract -----------------------------------------------------------------
def _dims(arg) -> list:
    return list(arg.shape) if isinstance(arg.shape, (list, tuple)) else []


def _is_fixed_one(dim) -> bool:
    return isinstance(dim, int) and dim == 1


def _batch_mode(dims: list, what: str) -> bool:
    """True when the graph takes one row at a time (first axis fixed at 1)."""
    if not dims:
        raise CheckpointError(f"{what}: the input has no declared rank; export it with a batch axis")
    first = dims[0]
    if isinstance(first, int) and first > 1:
        raise CheckpointError(f"{what}: the input has a fixed batch of {first}; export it with a dynamic batch axis "
                              "or a batch of 1")
    return _is_fixed_one(first)


def _pick_output(names: list[str], wanted, what: str, pattern: re.Pattern | None, default: int | None) -> int | None:
    if isinstance(wanted, int):
        if wanted >= len(names):
            raise CheckpointError(f"{what}: output index {wanted} does not exist (the graph has {len(names)}: {names})")
        return wanted
    if isinstance(wanted, str):
        if wanted not in names:
            raise CheckpointError(f"{what}: no output named {wanted[:60]!r}; the graph's outputs are {names}")
        return names.index(wanted)
    if pattern is not None:
        hits = [i for i, n in enumerate(names) if pattern.search(n)]
        if len(hits) == 1:
            return hits[0]
    return default


def build(folder: Path, encoder, decoder, spec: dict, content_hash: str) -> OnnxModel:
    """The model of a checked pair of graphs. Each step infers one part of the contract from what
    the graphs declare and what ``explorer.json`` says, noting in ``inferred`` what it assumed;
    probe runs on one image and one code then confirm the sizes."""
    inferred: list[str] = []
    declared = [k for k in ("input_shape", "layout", "pixel_range", "mean_output", "logvar_output") if k in spec]
    probe_enc, probe_dec = runtimes.make_session(encoder, 1), runtimes.make_session(decoder, 1)
    enc_in, dec_in = graph_inputs(probe_enc, probe_dec)
    enc_dims, dec_dims = _dims(enc_in), _dims(dec_in)
    enc_io = Io(enc_in.name, FLOAT_TYPES[enc_in.type], _batch_mode(enc_dims, ENCODER_FILE), len(enc_dims) == 2)
    dec_io = Io(dec_in.name, FLOAT_TYPES[dec_in.type], _batch_mode(dec_dims, DECODER_FILE), False)
    shape, layout = image_form(enc_in.name, enc_dims, spec, inferred)
    pixel_range = spec.get("pixel_range")
    if pixel_range is None:
        pixel_range = (0.0, 1.0)
        inferred.append("pixel range [0, 1] (graphs do not declare one)")
    names = [o.name for o in probe_enc.get_outputs()]
    mean, logvar = code_outputs(names, spec, inferred)
    latent = probe_encoder(probe_enc, enc_io, shape, layout, pixel_range, names, mean, logvar, spec)
    dec_io.flat = probe_decoder(probe_dec, dec_io, dec_in.name, dec_dims, latent, shape)
    runner = OnnxRunner(encoder, decoder, enc_io, dec_io, shape, layout, pixel_range, mean, logvar, latent,
                        one_thread=(probe_enc, probe_dec))
    return OnnxModel(folder, runner, spec.get("name") or folder.name, content_hash,
                     spec.get("variational", logvar is not None), TrainingRecord.from_dict(spec.get("training")),
                     inferred, declared)


def graph_inputs(encoder, decoder) -> tuple:
    """The one float input of each graph: the encoder's images, the decoder's codes."""
    enc_inputs, dec_inputs = encoder.get_inputs(), decoder.get_inputs()
    if len(enc_inputs) != 1:
        raise CheckpointError(f"{ENCODER_FILE}: the encoder must take one input (the images), it takes "
                              f"{len(enc_inputs)}: {[i.name for i in enc_inputs][:6]}")
    if len(dec_inputs) != 1:
        raise CheckpointError(f"{DECODER_FILE}: the decoder must take one input (the codes), it takes "
                              f"{len(dec_inputs)}: {[i.name for i in dec_inputs][:6]}")
    for arg, what in ((enc_inputs[0], ENCODER_FILE), (dec_inputs[0], DECODER_FILE)):
        if arg.type not in FLOAT_TYPES:
            raise CheckpointError(f"{what}: the input {arg.name!r} is {arg.type}; only float inputs are supported")
    return enc_inputs[0], dec_inputs[0]


def image_form(input_name: str, enc_dims: list, spec: dict, inferred: list[str]) -> tuple[tuple[int, int, int], str]:
    """The images' [C, H, W] and layout, from explorer.json where it says them, else from the
    encoder input's declared shape (a flattened input read as a square image)."""
    if len(enc_dims) not in (2, 4):
        raise CheckpointError(f"{ENCODER_FILE}: the input {input_name!r} has shape {enc_dims}; expected images "
                              "(N, C, H, W), (N, H, W, C) or flattened (N, C*H*W)")
    layout = spec.get("layout")
    shape = spec.get("input_shape")
    if len(enc_dims) == 2:
        layout = layout or "NCHW"
        if shape is None:
            size = enc_dims[1]
            if not isinstance(size, int):
                raise CheckpointError(f"{ENCODER_FILE}: the input is flattened with an undeclared size; say "
                                      f"\"input_shape\": [C, H, W] in {SPEC_FILE}")
            shape = square_shape(size)
            if shape is None:
                raise CheckpointError(f"{ENCODER_FILE}: a flattened input of {size} values is not a square grey or "
                                      f"colour image; say \"input_shape\": [C, H, W] in {SPEC_FILE}")
            inferred.append(f"flattened input of {size} values read as {shape[0]}×{shape[1]}×{shape[2]} images")
        elif isinstance(enc_dims[1], int) and enc_dims[1] != math.prod(shape):
            raise CheckpointError(f"{SPEC_FILE}: input_shape {list(shape)} has {math.prod(shape)} values, but the encoder "
                                  f"takes {enc_dims[1]}")
    else:
        if layout is None:
            layout = guess_layout(enc_dims[1:])
            inferred.append(f"layout {layout} (from the input's declared shape {enc_dims})")
        declared_chw = enc_dims[1:] if layout == "NCHW" else [enc_dims[3], enc_dims[1], enc_dims[2]]
        if shape is None:
            if not all(isinstance(d, int) and d > 0 for d in declared_chw):
                raise CheckpointError(f"{ENCODER_FILE}: the input's image size is not declared ({enc_dims}); say "
                                      f"\"input_shape\": [C, H, W] in {SPEC_FILE}")
            shape = tuple(declared_chw)
        else:
            for have, want in zip(declared_chw, shape):
                if isinstance(have, int) and have != want:
                    raise CheckpointError(f"{SPEC_FILE}: input_shape {list(shape)} contradicts the encoder's declared "
                                          f"input {enc_dims} ({layout})")
    return checked_shape(list(shape), ENCODER_FILE), layout


def code_outputs(names: list[str], spec: dict, inferred: list[str]) -> tuple[int, int | None]:
    """Which encoder outputs are the code (the mean) and the log-variance (None: deterministic),
    as explorer.json says, else by their names, else the first and (of two) the other."""
    mean = _pick_output(names, spec.get("mean_output"), ENCODER_FILE, MEAN_NAMES if len(names) > 1 else None, 0)
    if "logvar_output" in spec:
        logvar = _pick_output(names, spec["logvar_output"], ENCODER_FILE, None, None) \
            if spec["logvar_output"] is not None else None
    else:
        logvar = _pick_output(names, None, ENCODER_FILE, LOGVAR_NAMES, None)
        if logvar is None and len(names) == 2:
            logvar = 1 - mean
        if len(names) > 1:
            inferred.append(f"encoder output {names[mean]!r} is the code"
                            + (f", {names[logvar]!r} the log-variance" if logvar is not None else ""))
    if logvar == mean:
        raise CheckpointError(f"{ENCODER_FILE}: the mean and the log-variance cannot be the same output ({names[mean]!r})")
    return mean, logvar


def probe_encoder(session, io: Io, shape, layout: str, pixel_range, names: list[str], mean: int, logvar: int | None,
                  spec: dict) -> int:
    """The code size, from a run on one grey image; its outputs must be one code (and as many
    log-variances) of a size explorer.json does not contradict."""
    probe = np.full((1, *shape), 0.5, np.float32)
    try:
        out = session.run(None, {io.input_name: images_to_model(probe, pixel_range, layout, io)})
    except Exception as e:
        raise CheckpointError(f"{ENCODER_FILE}: a probe run on one {shape[0]}×{shape[1]}×{shape[2]} image failed "
                              f"({_short(str(e), 200)})") from None
    code = np.asarray(out[mean])
    latent = int(code.size)
    if code.ndim < 1 or code.shape[0] != 1 or not 0 < latent <= 1 << 16:
        raise CheckpointError(f"{ENCODER_FILE}: the code output {names[mean]!r} has shape {list(code.shape)} for one image")
    if "latent_dim" in spec and spec["latent_dim"] != latent:
        raise CheckpointError(f"{SPEC_FILE}: latent_dim {spec['latent_dim']} contradicts the encoder's code size {latent}")
    if logvar is not None and np.asarray(out[logvar]).size != latent:
        raise CheckpointError(f"{ENCODER_FILE}: the log-variance output {names[logvar]!r} has "
                              f"{np.asarray(out[logvar]).size} values, the code {latent}")
    return latent


def probe_decoder(session, io: Io, input_name: str, dec_dims: list, latent: int, shape) -> bool:
    """Whether the decoder gives flat rows rather than images, from a run on one code; it must
    take the encoder's codes and give one image of the encoder's shape."""
    if len(dec_dims) != 2 or (isinstance(dec_dims[1], int) and dec_dims[1] != latent):
        raise CheckpointError(f"{DECODER_FILE}: the decoder's input {input_name!r} has shape {dec_dims}; expected "
                              f"(N, {latent}) for the encoder's {latent}-d codes")
    try:
        y = session.run(None, {io.input_name: np.zeros((1, latent), io.input_dtype)})[0]
    except Exception as e:
        raise CheckpointError(f"{DECODER_FILE}: a probe run on one code failed ({_short(str(e), 200)})") from None
    if np.asarray(y).size != math.prod(shape):
        raise CheckpointError(f"{DECODER_FILE}: decodes one code to shape {list(np.asarray(y).shape)}, which does not "
                              f"hold one {shape[0]}×{shape[1]}×{shape[2]} image")
    return np.asarray(y).ndim != 4


def guess_layout(dims: list) -> str:
    """NCHW unless the last axis looks like channels and the first does not (or the first
    equals the second, as the height equals the width of a square image, and the last is smaller)."""
    first, middle, last = dims
    channels = (1, 3, 4)
    if isinstance(last, int) and last in channels:
        if not (isinstance(first, int) and first in channels):
            return "NHWC"
        if first == middle and last < first:
            return "NHWC"
    return "NCHW"


__all__ = ["open_onnx", "OnnxModel", "SPEC_FORMAT", "ENCODER_FILE", "DECODER_FILE", "SPEC_FILE"]
