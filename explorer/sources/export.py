"""Any model that opens -> an ONNX pair + ``explorer.json`` that the ONNX source opens back.

Exported graphs speak the display contract: ``encoder.onnx`` takes ``x`` (N, C, H, W) in
[0, 1] and gives ``mean`` (and ``logvar`` for a VAE); ``decoder.onnx`` takes ``z`` (N, D) and
gives ``x_hat`` (N, C, H, W) in [0, 1]; the batch axis is dynamic. Every export is checked
before it is kept: onnxruntime must reproduce the PyTorch outputs (batches of 1 and 3) to 1e-4.

``exported_runner(model)`` is the engine's: onnxruntime running the export of a model, which
``cached_onnx`` keeps on disk under its content hash (``explorer/cache.py``'s folder), so each
model is exported once per machine.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import cache, cache_budget, runtimes
from ..cache import atomic_write
from ..model_contract import Model
from ..runtimes import Io, OnnxRunner
from ..safe_read import CheckpointError, parse_config_text, read_limited
from .onnx import DECODER_FILE, ENCODER_FILE, MAX_SPEC_BYTES, SPEC_FILE, SPEC_FORMAT

EXPORT_VERSION = 1  # bump when exported graphs change, so cached exports are made again
OPSET = 18
TOLERANCE = 1e-4
EXPORTERS = ("dynamo", "torchscript")


@contextlib.contextmanager
def _quiet():
    """The exporters' progress lines and deprecation notes stay out of the server log."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_module(module, example, input_name: str, output_names: list[str], exporters=EXPORTERS) -> tuple[bytes, str]:
    """ONNX bytes of ``module`` with a dynamic batch axis, checked against torch; (bytes, exporter)."""
    errors = []
    for exporter in exporters:
        try:
            with _quiet(), torch.inference_mode(False), torch.no_grad():
                if exporter == "dynamo":
                    batch = torch.export.Dim("batch", min=1, max=1 << 20)
                    program = torch.onnx.export(module, (example,), dynamo=True, input_names=[input_name],
                                                output_names=output_names, dynamic_shapes=({0: batch},),
                                                opset_version=OPSET, verbose=False)
                    data = program.model_proto.SerializeToString()
                else:
                    buf = io.BytesIO()
                    torch.onnx.export(module, (example,), buf, dynamo=False, input_names=[input_name],
                                      output_names=output_names, opset_version=17,
                                      dynamic_axes={n: {0: "batch"} for n in [input_name, *output_names]})
                    data = buf.getvalue()
            check_export(module, data, example, input_name)
            return data, exporter
        except Exception as e:  # the next exporter may manage; every failure is reported at the end
            errors.append(f"{exporter}: {type(e).__name__}: {' '.join(str(e).split())[:200]}")
    raise CheckpointError("could not export to ONNX (" + "; ".join(errors) + ")")


def check_export(module, data: bytes, example, input_name: str) -> None:
    session = runtimes.make_session(data, 1)
    for rows in (1, 3):
        x = example[:1].repeat(rows, *([1] * (example.dim() - 1)))
        x = x + 0.01 * torch.arange(rows, dtype=x.dtype).reshape(rows, *([1] * (x.dim() - 1)))
        with torch.no_grad():
            want = module(x)
        want = want if isinstance(want, tuple) else (want,)
        got = session.run(None, {input_name: x.numpy()})
        if len(got) != len(want):
            raise ValueError(f"the export has {len(got)} outputs, the model {len(want)}")
        for g, w in zip(got, want):
            w = w.float().numpy()
            if g.shape != w.shape or not np.allclose(g, w, atol=TOLERANCE, rtol=TOLERANCE):
                diff = float(np.abs(g - w).max()) if g.shape == w.shape else float("nan")
                raise ValueError(f"onnxruntime disagrees with PyTorch (shape {list(g.shape)} vs {list(w.shape)}, "
                                 f"max difference {diff:.2e})")


def export_onnx(model: Model, out: str | Path, exporters=EXPORTERS) -> Path:
    """Write ``model`` to ``out`` as encoder.onnx + decoder.onnx + explorer.json; returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = {"format": SPEC_FORMAT, "name": model.name, "input_shape": list(model.input_shape), "layout": "NCHW",
            "pixel_range": [0, 1], "mean_output": "mean", "logvar_output": None, "latent_dim": model.latent_dim,
            "variational": bool(model.is_variational),
            "source": {"kind": model.kind, "model_type": model.model_type, "content_hash": model.content_hash}}
    record = _json_safe(model.training.raw)
    if record:
        spec["training"] = record
    runner = model.onnx_runner()
    if runner is not None and model.torch_parts() is None:  # ONNX already: the graphs as they are
        for file in (ENCODER_FILE, DECODER_FILE):
            shutil.copyfile(model.path / file, out / file)
        names = [o.name for o in runner.encoder.get_outputs()]
        spec.update(layout=model.layout, pixel_range=list(model.pixel_range), mean_output=names[runner.mean_output],
                    logvar_output=None if runner.logvar_output is None else names[runner.logvar_output])
        if runner.enc.flat or runner.dec.flat:
            spec["input_shape"] = list(model.input_shape)
    else:
        parts = model.torch_parts()
        if parts is None:
            raise CheckpointError(f"{model.name}: this {model.kind} model has no PyTorch form to export")
        x = torch.rand(2, *model.input_shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            outputs = parts.encoder(x)
        names = ["mean", "logvar"][: len(outputs)]
        if len(outputs) > 1:
            spec["logvar_output"] = "logvar"
        encoder, how = export_module(parts.encoder, x, "x", names, exporters)
        z = torch.randn(2, model.latent_dim, generator=torch.Generator().manual_seed(1))
        decoder, how_dec = export_module(parts.decoder, z, "z", ["x_hat"], exporters)
        spec["source"]["exporter"] = how if how == how_dec else f"{how} / {how_dec}"
        atomic_write(out / ENCODER_FILE, encoder)
        atomic_write(out / DECODER_FILE, decoder)
    atomic_write(out / SPEC_FILE, (json.dumps(spec, indent=2) + "\n").encode())
    return out


def _json_safe(record: dict) -> dict:
    try:
        return json.loads(json.dumps(record, allow_nan=False)) if isinstance(record, dict) else {}
    except (TypeError, ValueError, RecursionError):
        return {}


def cache_folder(model: Model) -> Path:
    return cache.cache_dir() / "onnx" / f"{model.content_hash[:40]}-v{EXPORT_VERSION}"


def cached_onnx(model: Model, exporters=("torchscript", "dynamo")) -> Path:
    """The model's exported pair, made once per content hash (raises CheckpointError).

    The engine prefers the TorchScript-based exporter here: for these models it takes tens of
    milliseconds where the dynamo one takes seconds, and both are checked against torch."""
    folder = cache_folder(model)
    if (folder / SPEC_FILE).is_file():
        cache_budget.touch(folder)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".export-"))
    try:
        export_onnx(model, scratch, exporters)
        try:
            os.replace(scratch, folder)  # whole folders appear at once; a concurrent export's copy wins
        except OSError:
            if not (folder / SPEC_FILE).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    cache_budget.make_room(keep=(folder,))  # the exports used longest ago go first past the budget
    return folder


def exported_runner(model: Model) -> OnnxRunner:
    """onnxruntime running the model's export, made once per content hash (``cached_onnx``).

    These are graphs ``export_onnx`` wrote and checked against torch, in the form it writes
    ("x": images (N, C, H, W) in [0, 1] -> "mean" [+ "logvar"]; "z": codes -> "x_hat"), so the
    runner is built from that form, not read, validated, hashed and probed again like a user's
    files. A cached export damaged on disk is a CheckpointError (the engine then runs torch)."""
    folder = cached_onnx(model)
    try:
        spec = parse_config_text(read_limited(folder / SPEC_FILE, MAX_SPEC_BYTES).decode("utf-8", "replace"), SPEC_FILE)
        encoder, decoder = (runtimes.runtime_graph((folder / name).read_bytes()) for name in (ENCODER_FILE, DECODER_FILE))
        return OnnxRunner(encoder, decoder, Io("x", np.float32, False, False), Io("z", np.float32, False, False),
                          model.input_shape, "NCHW", (0.0, 1.0), mean_output=0,
                          logvar_output=1 if spec.get("logvar_output") else None, latent_dim=model.latent_dim)
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"the cached ONNX export {folder.name} cannot be run ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:200]})") from None
