"""Running a model: the two runtimes behind the engine, each mapping a numpy batch to numpy
outputs in the display contract (images (N, C, H, W) in [0, 1], codes (N, D)).

- ``TorchRuntime``: a model's torch parts on a device (autocast on CUDA);
- ``OnnxRunner``: two onnxruntime graphs on the CPU, a model's own or its export, with the
  sessions they run on (thread counts, no spin-waiting, GELUs fused for onnxruntime).

Both offer ``encode``, ``score``, ``decode``, ``reconstruct`` (batches, under the engine's lock)
and ``decode_small`` (a coalesced batch of slider moves, without it). Checking a user's graphs
before they run is the ONNX source's concern (``sources/onnx.py``), not this module's.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .model_contract import TorchParts, from_model_space, to_model_space
from .threads import one_intra_op_thread


# --- PyTorch -----------------------------------------------------------------------------------
class TorchRuntime:
    """The model's torch parts on a device; each method maps one numpy batch to numpy outputs."""

    name = "PyTorch"
    caller_runs = False  # every coalesced decode runs on a lane, whose thread is set up for it

    def __init__(self, parts: TorchParts, device: torch.device, autocast_dtype=None):
        self.device = device
        self.encoder = parts.encoder.to(device).eval()
        self.decoder = parts.decoder.to(device).eval()
        self.autocast_dtype = autocast_dtype

    def context(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.device, non_blocking=True)

    @staticmethod
    def _numpy(*tensors: torch.Tensor) -> tuple[np.ndarray, ...]:
        return tuple(t.float().cpu().numpy() for t in tensors)

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """(mean,) or (mean, logvar)."""
        with torch.inference_mode(), self.context():
            return self._numpy(*self.encoder(self._tensor(x)))

    def score(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """(mean, per-image reconstruction MSE) or (mean, errors, logvar), in one pass."""
        with torch.inference_mode(), self.context():
            t = self._tensor(x)
            out = self.encoder(t)
            errors = (self.decoder(out[0]).float() - t.float()).pow(2).flatten(1).mean(1)
            return self._numpy(out[0], errors, *out[1:])

    def decode(self, z: np.ndarray) -> tuple[np.ndarray]:
        with torch.inference_mode(), self.context():
            return self._numpy(self.decoder(self._tensor(z)))

    def reconstruct(self, x: np.ndarray) -> tuple[np.ndarray]:
        with torch.inference_mode(), self.context():
            return self._numpy(self.decoder(self.encoder(self._tensor(x))[0]))

    def decode_small(self, z: np.ndarray) -> np.ndarray:
        """One coalesced batch, without the engine's lock: forward passes in inference mode only
        read the weights, so lanes run side by side and a slider need not wait for a dataset."""
        with torch.inference_mode(), self.context():
            return self.decoder(torch.from_numpy(z).to(self.device)).float().cpu().numpy()

    def worker_setup(self) -> None:
        if self.device.type == "cpu":
            one_intra_op_thread()


# --- onnxruntime -------------------------------------------------------------------------------
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
        pass  # each session carries its own thread settings


def graph_bytes(model: bytes | str) -> int:
    """The size of a graph given as bytes or as a file's path (what a session loads of it)."""
    return len(model) if isinstance(model, (bytes, bytearray)) else os.path.getsize(model)


def images_to_model(x: np.ndarray, pixel_range, layout: str, io: Io) -> np.ndarray:
    x = to_model_space(np.asarray(x, dtype=np.float32), pixel_range, layout)
    if io.flat:
        x = x.reshape(len(x), -1)
    return np.ascontiguousarray(x, dtype=io.input_dtype)


# --- onnxruntime sessions ---------------------------------------------------------------------
def all_graphs(graph):
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
    return [n for g in all_graphs(proto.graph) for n in g.node] + [n for f in proto.functions for n in f.node]


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


def runtime_graph(raw: bytes) -> bytes:
    """What onnxruntime runs for a graph's bytes: with its GELUs fused where it has any."""
    import onnx

    return fused_for_runtime(onnx.load_from_string(raw)) or raw


def session_threads(threads: int | None) -> int:
    """Intra-op threads for a session: as asked, or (None) as many as torch uses here."""
    if threads is None:
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
