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
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import CheckpointError, parse_config_text, read_limited
from . import (PIXEL_RANGES, Model, TrainingRecord, checked_latent, checked_shape, from_model_space,
               to_model_space)

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


# --- the contract -------------------------------------------------------------------------
@dataclass
class Io:
    """How to feed one graph and read it."""

    input_name: str
    input_dtype: Any
    fixed_batch: bool  # the graph takes exactly one row at a time
    flat: bool  # images as (N, C*H*W) rather than (N, C, H, W) / (N, H, W, C)


class OnnxRunner:
    """Two onnxruntime graphs behind the engine's runtime interface (numpy in, numpy out, in
    the display contract). Big work runs on a session with the process's thread count; a lone
    small decode on a one-thread session (no thread team to wake for 0.1 ms)."""

    name = "onnxruntime"
    caller_runs = True  # a lone small decode runs on its caller's thread (the session has its own settings)

    def __init__(self, encoder: bytes | str, decoder: bytes | str, enc: Io, dec: Io, input_shape, layout: str,
                 pixel_range: tuple[float, float], mean_output: int, logvar_output: int | None, latent_dim: int,
                 threads: int | None = None, one_thread: tuple | None = None):
        """``one_thread``: (encoder, decoder) sessions already open on one thread (the probes that
        checked the graphs), reused wherever one thread is what is wanted."""
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        self.layout, self.pixel_range = layout, tuple(pixel_range)
        self.enc, self.dec = enc, dec
        self.mean_output, self.logvar_output = mean_output, logvar_output
        threads = session_threads(threads)
        enc_one, dec_one = one_thread or (None, None)
        self.decoder_small = dec_one or make_session(decoder, 1)
        self.encoder = enc_one if threads == 1 and enc_one else make_session(encoder, threads)
        self.decoder = self.decoder_small if threads == 1 else make_session(decoder, threads)
        # each session holds its own copy of its graph's weights
        self.memory_bytes = graph_bytes(encoder) + graph_bytes(decoder) * (1 if threads == 1 else 2)

    # --- conversions ------------------------------------------------------------------------
    def _images_in(self, x: np.ndarray) -> np.ndarray:
        return images_to_model(x, self.pixel_range, self.layout, self.enc)

    def _images_out(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        c, h, w = self.input_shape
        if y.ndim != 4 or self.dec.flat:
            y = y.reshape(len(y), *((h, w, c) if self.layout == "NHWC" else (c, h, w)))
        return np.ascontiguousarray(from_model_space(y, self.pixel_range, self.layout), dtype=np.float32)

    @staticmethod
    def _run(session, io: Io, data: np.ndarray) -> list[np.ndarray]:
        if not io.fixed_batch or len(data) == 1:
            return session.run(None, {io.input_name: data})
        rows = [session.run(None, {io.input_name: data[i: i + 1]}) for i in range(len(data))]
        return [np.concatenate([r[k] for r in rows]) for k in range(len(rows[0]))] if rows else []

    def _encode(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        if len(x) == 0:
            d = self.latent_dim
            return (np.zeros((0, d), np.float32),) + ((np.zeros((0, d), np.float32),) if self.logvar_output is not None else ())
        out = self._run(self.encoder, self.enc, self._images_in(x))
        mean = np.asarray(out[self.mean_output], dtype=np.float32).reshape(len(x), -1)
        if self.logvar_output is None:
            return (mean,)
        return mean, np.asarray(out[self.logvar_output], dtype=np.float32).reshape(len(x), -1)

    def _decode(self, z: np.ndarray, session=None) -> np.ndarray:
        if len(z) == 0:
            return np.zeros((0, *self.input_shape), np.float32)
        z = np.ascontiguousarray(z, dtype=self.dec.input_dtype)
        return self._images_out(self._run(session or self.decoder, self.dec, z)[0])

    # --- the engine's runtime interface ---------------------------------------------------
    def encode(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return self._encode(x)

    def score(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        out = self._encode(x)
        errors = ((self._decode(out[0]) - x) ** 2).reshape(len(x), -1).mean(1) if len(x) else np.zeros(0, np.float32)
        return (out[0], errors.astype(np.float32), *out[1:])

    def decode(self, z: np.ndarray) -> tuple[np.ndarray]:
        return (self._decode(z),)

    def reconstruct(self, x: np.ndarray) -> tuple[np.ndarray]:
        return (self._decode(self._encode(x)[0]),)

    def decode_small(self, z: np.ndarray) -> np.ndarray:
        # one row: one thread, no team to wake; a coalesced batch: all threads (8 threads of
        # slider decodes ran 1.0-1.6x faster than with batches on the one-thread session)
        return self._decode(z, self.decoder_small if len(z) == 1 else self.decoder)

    def worker_setup(self) -> None:
        pass


def graph_bytes(model: bytes | str) -> int:
    """The size of a graph given as bytes or as a file's path (what a session loads of it)."""
    return len(model) if isinstance(model, (bytes, bytearray)) else os.path.getsize(model)


def images_to_model(x: np.ndarray, pixel_range, layout: str, io: Io) -> np.ndarray:
    x = to_model_space(np.asarray(x, dtype=np.float32), pixel_range, layout)
    if io.flat:
        x = x.reshape(len(x), -1)
    return np.ascontiguousarray(x, dtype=io.input_dtype)


def fused_for_runtime(proto) -> bytes | None:
    """The graph with each GELU written out as ``x * (0.5 * (erf(x / sqrt 2) + 1))`` (what
    torch's dynamo exporter emits for ``nn.GELU``) fused into onnxruntime's one Gelu kernel, or
    None where there is none to fuse. onnxruntime's own optimiser fuses only other orders of
    that product; unfused, the elementwise chain runs outside its blocked-layout convolutions
    and encoding ran at 0.75x the fused speed. The rewrite is onnxscript's; a graph it cannot
    take is used as it is (only slower)."""
    if not any(node.op_type == "Erf" for node in all_nodes(proto)):
        return None  # nothing to fuse: no second copy of a big graph
    try:
        import onnx_ir as ir
        from onnx_ir.passes.common import RemoveUnusedNodesPass
        from onnxscript.rewriter.ort_fusions.erfgelu import fuse_erfgelu

        model = ir.serde.deserialize_model(proto)
        if not fuse_erfgelu(model):
            return None
        RemoveUnusedNodesPass()(model)
        return ir.serde.serialize_model(model).SerializeToString()
    except Exception:
        return None


def session_threads(threads: int | None) -> int:
    """Intra-op threads for a session: as asked, or (None) as many as torch uses here."""
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    return max(1, int(threads))


def make_session(model: bytes | str, threads: int | None):
    """A CPU-only session. ``threads``: intra-op threads (None: as many as torch uses here)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = session_threads(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: its warnings would fill the server log
    # No spin-waiting after a run: on 2 shared cores, idle sessions spinning took the CPU from
    # everything else (a torch loop beside them ran at a quarter of its speed), and encoding at
    # batch 256 was no faster with it (measured: 25,000 img/s without, 18,000 with).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


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
        self.declared = declared

    def onnx_runner(self, threads: int | None = None) -> OnnxRunner:
        return self.runner

    def encode(self, x):
        out = self.runner.encode(np.asarray(x, dtype=np.float32))
        return out[0], (out[1] if len(out) > 1 else None)

    def decode(self, z):
        return self.runner.decode(np.atleast_2d(np.asarray(z, dtype=np.float32)))[0]

    def source_line(self) -> str:
        said = f" ({', '.join(self.declared)} from {SPEC_FILE})" if self.declared else f" (no {SPEC_FILE})"
        return f"source: ONNX folder `{self.path.name}`{said}"


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
        graphs[file] = (str(path / file) if externals else fused_for_runtime(proto) or raw, proto)
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


def _graphs(graph):
    """A graph and every subgraph in it (If / Loop / Scan bodies), without recursion."""
    import onnx

    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    stack.append(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    stack.extend(attr.graphs)


def all_nodes(proto) -> list:
    """Every node of a model: its graph's, its subgraphs' and its local functions'."""
    return [n for g in _graphs(proto.graph) for n in g.node] + [n for f in proto.functions for n in f.node]


def check_model(proto, folder: Path, what: str) -> list[Path]:
    """Refuse what onnxruntime should never be asked to load; returns the external data files."""
    import onnx

    local_functions = {(f.domain, f.name) for f in proto.functions}
    imported = {op.domain for op in proto.opset_import}
    foreign = sorted(d for d in imported if d not in ALLOWED_DOMAINS and d not in {f[0] for f in local_functions})
    nodes = all_nodes(proto)
    for node in nodes:
        if node.domain not in ALLOWED_DOMAINS and (node.domain, node.op_type) not in local_functions:
            foreign.append(node.domain)
    if foreign:
        domain = sorted(set(foreign))[0]
        raise CheckpointError(f"{what}: uses operators from the custom domain {domain[:80]!r}; only standard ONNX "
                              "operators run here (custom-op libraries are never loaded)")
    externals: list[Path] = []
    root = folder.resolve()
    tensors = [t for g in _graphs(proto.graph) for t in g.initializer]
    tensors += [a.t for n in nodes for a in n.attribute if a.type == onnx.AttributeProto.TENSOR]
    tensors += [s.values for g in _graphs(proto.graph) for s in g.sparse_initializer]
    for t in tensors:
        if any(d < 0 for d in t.dims) or math.prod(t.dims) > MAX_TENSOR_VALUES:
            raise CheckpointError(f"{what}: tensor {t.name[:80]!r} declares a shape of {list(t.dims)[:8]}: too large or negative")
        if t.data_location == onnx.TensorProto.EXTERNAL:
            externals.append(external_file(t, root, what))
    for g in _graphs(proto.graph):
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
    inferred: list[str] = []
    declared = [k for k in ("input_shape", "layout", "pixel_range", "mean_output", "logvar_output") if k in spec]
    probe_enc = make_session(encoder, 1)
    probe_dec = make_session(decoder, 1)
    enc_inputs, dec_inputs = probe_enc.get_inputs(), probe_dec.get_inputs()
    if len(enc_inputs) != 1:
        raise CheckpointError(f"{ENCODER_FILE}: the encoder must take one input (the images), it takes "
                              f"{len(enc_inputs)}: {[i.name for i in enc_inputs][:6]}")
    if len(dec_inputs) != 1:
        raise CheckpointError(f"{DECODER_FILE}: the decoder must take one input (the codes), it takes "
                              f"{len(dec_inputs)}: {[i.name for i in dec_inputs][:6]}")
    enc_in, dec_in = enc_inputs[0], dec_inputs[0]
    for arg, what in ((enc_in, ENCODER_FILE), (dec_in, DECODER_FILE)):
        if arg.type not in FLOAT_TYPES:
            raise CheckpointError(f"{what}: the input {arg.name!r} is {arg.type}; only float inputs are supported")
    enc_dims, dec_dims = _dims(enc_in), _dims(dec_in)
    enc_fixed, dec_fixed = _batch_mode(enc_dims, ENCODER_FILE), _batch_mode(dec_dims, DECODER_FILE)

    # Layout and input shape.
    flat = len(enc_dims) == 2
    if len(enc_dims) not in (2, 4):
        raise CheckpointError(f"{ENCODER_FILE}: the input {enc_in.name!r} has shape {enc_dims}; expected images "
                              "(N, C, H, W), (N, H, W, C) or flattened (N, C*H*W)")
    layout = spec.get("layout")
    shape = spec.get("input_shape")
    if flat:
        layout = layout or "NCHW"
        if shape is None:
            size = enc_dims[1]
            if not isinstance(size, int):
                raise CheckpointError(f"{ENCODER_FILE}: the input is flattened with an undeclared size; say "
                                      f"\"input_shape\": [C, H, W] in {SPEC_FILE}")
            shape = square_shape(size)
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
    shape = checked_shape(list(shape), ENCODER_FILE)
    pixel_range = spec.get("pixel_range")
    if pixel_range is None:
        pixel_range = (0.0, 1.0)
        inferred.append("pixel range [0, 1] (graphs do not declare one)")

    # Which encoder outputs are the code and the log-variance.
    names = [o.name for o in probe_enc.get_outputs()]
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

    enc_io = Io(enc_in.name, FLOAT_TYPES[enc_in.type], enc_fixed, flat)
    dec_io = Io(dec_in.name, FLOAT_TYPES[dec_in.type], dec_fixed, False)
    probe = np.full((1, *shape), 0.5, np.float32)
    try:
        out = probe_enc.run(None, {enc_in.name: images_to_model(probe, pixel_range, layout, enc_io)})
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
    if len(dec_dims) != 2 or (isinstance(dec_dims[1], int) and dec_dims[1] != latent):
        raise CheckpointError(f"{DECODER_FILE}: the decoder's input {dec_in.name!r} has shape {dec_dims}; expected "
                              f"(N, {latent}) for the encoder's {latent}-d codes")
    try:
        y = probe_dec.run(None, {dec_in.name: np.zeros((1, latent), dec_io.input_dtype)})[0]
    except Exception as e:
        raise CheckpointError(f"{DECODER_FILE}: a probe run on one code failed ({_short(str(e), 200)})") from None
    if np.asarray(y).size != math.prod(shape):
        raise CheckpointError(f"{DECODER_FILE}: decodes one code to shape {list(np.asarray(y).shape)}, which does not "
                              f"hold one {shape[0]}×{shape[1]}×{shape[2]} image")
    dec_io.flat = np.asarray(y).ndim != 4
    real = OnnxRunner(encoder, decoder, enc_io, dec_io, shape, layout, pixel_range, mean, logvar, latent,
                      one_thread=(probe_enc, probe_dec))
    variational = spec.get("variational", logvar is not None)
    name = spec.get("name") or folder.name
    return OnnxModel(folder, real, name, content_hash, variational, TrainingRecord.from_dict(spec.get("training")),
                     inferred, declared)


def square_shape(size: int) -> tuple[int, int, int]:
    for channels in (1, 3):
        side = math.isqrt(size // channels) if size % channels == 0 else 0
        if side and side * side * channels == size:
            return (channels, side, side)
    raise CheckpointError(f"{ENCODER_FILE}: a flattened input of {size} values is not a square grey or colour image; "
                          f"say \"input_shape\": [C, H, W] in {SPEC_FILE}")


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


def write_spec(folder: Path, spec: dict) -> None:
    from ..checkpoint import atomic_write

    atomic_write(folder / SPEC_FILE, (json.dumps(spec, indent=2) + "\n").encode())


__all__ = ["open_onnx", "OnnxModel", "OnnxRunner", "make_session", "write_spec", "SPEC_FORMAT", "ENCODER_FILE",
           "DECODER_FILE", "SPEC_FILE"]
