"""The ONNX source and export: shipped checkpoints round-trip through ONNX; graphs without an
explorer.json are understood from what they declare; hostile files end in a CheckpointError."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from explorer.engine import InferenceEngine
from explorer.checkpoint import CheckpointError
from explorer.sources import open_model, open_user_model
from explorer.sources.export import export_onnx
from explorer.ui.model_card import card_lines

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "checkpoints").glob("*/") if (p / "config.json").is_file())


# --- tiny graphs built here -------------------------------------------------------------------
def tiny_pair(folder: Path, *, batch="N", layout="NCHW", outputs=("mean",), flat=False, seed=0,
              encoder_nodes=None, opset_domain=None) -> Path:
    """encoder: 1x4x4 images -> 2-d code (+ log-variance); decoder: code -> sigmoid images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    image = [batch, 16] if flat else ([batch, 1, 4, 4] if layout == "NCHW" else [batch, 4, 4, 1])
    w_enc = numpy_helper.from_array(rng.standard_normal((16, 2)).astype(np.float32), "w_enc")
    w_dec = numpy_helper.from_array(rng.standard_normal((2, 16)).astype(np.float32), "w_dec")
    shape_flat = numpy_helper.from_array(np.array([-1, 16], np.int64), "shape_flat")
    nodes = [helper.make_node("Reshape", ["x", "shape_flat"], ["xf"]),
             helper.make_node("MatMul", ["xf", "w_enc"], [outputs[0]])]
    if len(outputs) > 1:
        nodes.append(helper.make_node("Mul", [outputs[0], "half"], [outputs[1]]))
    nodes += encoder_nodes or []
    inits = [w_enc, shape_flat, numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    enc_graph = helper.make_graph(nodes, "encoder", [helper.make_tensor_value_info("x", TensorProto.FLOAT, image)],
                                  [helper.make_tensor_value_info(o, TensorProto.FLOAT, [batch, 2]) for o in outputs],
                                  inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(opset_domain, 1)] if opset_domain else [])
    onnx.save(helper.make_model(enc_graph, opset_imports=opsets, ir_version=8), folder / "encoder.onnx")
    out_shape = numpy_helper.from_array(np.array([-1, *image[1:]], np.int64), "out_shape")
    dec_graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "w_dec"], ["logits"]), helper.make_node("Sigmoid", ["logits"], ["flat"]),
         helper.make_node("Reshape", ["flat", "out_shape"], ["x_hat"])], "decoder",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, 2])],
        [helper.make_tensor_value_info("x_hat", TensorProto.FLOAT, image)], [w_dec, out_shape])
    onnx.save(helper.make_model(dec_graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              folder / "decoder.onnx")
    return folder


def reference(folder: Path, x: np.ndarray) -> np.ndarray:
    """The tiny encoder's code computed by hand from its weights (x in the model's own space)."""
    w = numpy_helper.to_array(next(t for t in onnx.load(folder / "encoder.onnx").graph.initializer if t.name == "w_enc"))
    return x.reshape(len(x), -1) @ w


IMAGES = np.random.default_rng(5).random((7, 1, 4, 4), dtype=np.float32)


# --- exported shipped checkpoints -------------------------------------------------------------
@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_checkpoint_exports_and_opens_back_with_the_same_codes_and_images(folder, mnist, tmp_path):
    native = open_model(folder)
    exported = open_model(export_onnx(native, tmp_path / "onnx", exporters=("dynamo",) if folder.name == "mnist-vae"
                                      else ("torchscript", "dynamo")))
    assert exported.kind == "onnx" and exported.name == native.name
    assert exported.input_shape == native.input_shape and exported.latent_dim == native.latent_dim
    assert exported.is_variational == native.is_variational
    assert exported.training.test_mse == native.training.test_mse  # the record travels in explorer.json
    # digits for the MNIST models; for the others, images of their own input shape
    x = mnist.x[:64] if native.input_shape == mnist.x.shape[1:] else \
        np.random.default_rng(0).random((16, *native.input_shape), dtype=np.float32)
    mean, logvar = native.encode(x)
    got_mean, got_logvar = exported.encode(x)
    np.testing.assert_allclose(got_mean, mean, atol=1e-4, rtol=1e-4)
    if logvar is None:
        assert got_logvar is None
    else:
        np.testing.assert_allclose(got_logvar, logvar, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(exported.decode(mean), native.decode(mean), atol=1e-4)
    assert not exported.inferred  # everything was declared


def test_the_export_command_writes_a_pair_that_opens(tmp_path, capsys):
    from explorer.__main__ import main

    assert main(["export", str(ROOT / "checkpoints" / "mnist-ae"), "--onnx", str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["decoder.onnx", "encoder.onnx", "explorer.json"]
    assert open_model(tmp_path / "out").kind == "onnx"
    assert main(["export", str(tmp_path / "nothing"), "--onnx", str(tmp_path / "x")]) == 2


def test_an_onnx_model_exports_again(tmp_path):
    model = open_model(tiny_pair(tmp_path / "a", layout="NHWC"))
    again = open_model(export_onnx(model, tmp_path / "b"))
    np.testing.assert_allclose(again.encode(IMAGES)[0], model.encode(IMAGES)[0], atol=1e-6)
    assert again.layout == "NHWC" and not again.inferred


# --- graphs without explorer.json ---------------------------------------------------------------
def test_without_explorer_json_the_contract_is_inferred_and_shown(tmp_path):
    model = open_model(tiny_pair(tmp_path / "m"))
    assert model.kind == "onnx" and model.input_shape == (1, 4, 4) and model.latent_dim == 2
    assert not model.is_variational and model.layout == "NCHW" and model.pixel_range == (0.0, 1.0)
    card = "\n".join(card_lines(model))
    assert "assumed: pixel range [0, 1]" in card and "assumed: layout NCHW" in card and "no explorer.json" in card
    assert "test MSE not recorded" in card
    np.testing.assert_allclose(model.encode(IMAGES)[0], reference(tmp_path / "m", IMAGES), rtol=1e-5, atol=1e-5)
    images = model.decode(np.zeros((3, 2), np.float32))
    assert images.shape == (3, 1, 4, 4) and np.allclose(images, 0.5)


def test_nhwc_is_recognised_and_converted(tmp_path):
    model = open_model(tiny_pair(tmp_path / "m", layout="NHWC"))
    assert model.layout == "NHWC" and model.input_shape == (1, 4, 4)
    nhwc = IMAGES.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(model.encode(IMAGES)[0], reference(tmp_path / "m", nhwc), rtol=1e-5, atol=1e-5)
    assert model.decode(np.zeros((2, 2), np.float32)).shape == (2, 1, 4, 4)


def test_a_flattened_mlp_and_a_vae_with_named_outputs(tmp_path):
    model = open_model(tiny_pair(tmp_path / "m", flat=True, outputs=("z_mean", "z_log_var")))
    assert model.input_shape == (1, 4, 4) and model.is_variational
    mean, logvar = model.encode(IMAGES)
    np.testing.assert_allclose(logvar, mean * 0.5, rtol=1e-6)
    card = "\n".join(card_lines(model))
    assert "flattened input of 16 values read as 1×4×4" in card and "'z_log_var' the log-variance" in card


@pytest.mark.parametrize("pixel_range, scale, offset", [([0, 1], 1, 0), ([-1, 1], 2, -1), ([0, 255], 255, 0)])
def test_explorer_json_declares_range_layout_and_outputs(tmp_path, pixel_range, scale, offset):
    folder = tiny_pair(tmp_path / "m", layout="NHWC", outputs=("a", "b"))
    (folder / "explorer.json").write_text(json.dumps({
        "name": "declared", "input_shape": [1, 4, 4], "layout": "NHWC", "pixel_range": pixel_range,
        "mean_output": "b", "logvar_output": None, "training": {"test_mse": 0.01}}))
    model = open_model(folder)
    assert model.name == "declared" and not model.inferred and not model.is_variational
    nhwc = IMAGES.transpose(0, 2, 3, 1) * scale + offset
    mean, logvar = model.encode(IMAGES)
    assert logvar is None
    np.testing.assert_allclose(mean, reference(folder, nhwc) * 0.5, rtol=1e-4, atol=1e-4)  # output b = a / 2
    decoded = model.decode(np.zeros((1, 2), np.float32))  # sigmoid(0) = 0.5 in the model's range
    np.testing.assert_allclose(decoded, (0.5 - offset) / scale, atol=1e-6)
    assert "test MSE 0.0100" in "\n".join(card_lines(model))


def test_a_fixed_batch_of_one_works_through_the_engine(tmp_path, digits):
    model = open_model(tiny_pair(tmp_path / "m", batch=1))
    engine = InferenceEngine(model, device="cpu", batch_size=4)
    codes = engine.encode(IMAGES)
    np.testing.assert_allclose(codes, reference(tmp_path / "m", IMAGES), rtol=1e-5, atol=1e-5)
    assert engine.decode(codes).shape == (7, 1, 4, 4)
    assert engine.decode_coalesced(codes[0]).shape == (1, 1, 4, 4)
    assert engine.describe_device() == "CPU, onnxruntime"


def test_a_fixed_batch_other_than_one_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="fixed batch of 8"):
        open_model(tiny_pair(tmp_path / "m", batch=8))


# --- hostile files ------------------------------------------------------------------------------
def with_external_data(folder: Path, location: str) -> Path:
    """The tiny pair, with the encoder's weights moved to external data at ``location``."""
    tiny_pair(folder)
    proto = onnx.load(folder / "encoder.onnx")
    weights = next(t for t in proto.graph.initializer if t.name == "w_enc")
    weights.ClearField("raw_data")
    weights.ClearField("float_data")
    weights.data_location = TensorProto.EXTERNAL
    del weights.external_data[:]
    weights.external_data.add(key="location", value=location)
    (folder / "encoder.onnx").write_bytes(proto.SerializeToString())
    return folder


def test_external_data_inside_the_folder_is_read(tmp_path):
    folder = tiny_pair(tmp_path / "ok")
    proto = onnx.load(folder / "encoder.onnx")
    onnx.save(proto, folder / "encoder.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=100)
    model = open_model(folder)
    np.testing.assert_allclose(model.encode(IMAGES)[0], reference(tiny_pair(tmp_path / "ref"), IMAGES), atol=1e-5)


@pytest.mark.parametrize("location, message", [
    ("/etc/passwd", "absolute path"),
    ("../secret.bin", "outside its folder"),
    ("sub/../../secret.bin", "outside its folder"),
    ("missing.bin", "which is missing"),
])
def test_external_data_pointing_outside_the_folder_is_refused(tmp_path, location, message):
    (tmp_path / "secret.bin").write_bytes(np.ones(32, np.float32).tobytes())
    folder = with_external_data(tmp_path / "m", location)
    with pytest.raises(CheckpointError, match=message):
        open_model(folder)


def test_external_data_through_a_link_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(np.ones(32, np.float32).tobytes())
    folder = with_external_data(tmp_path / "m", "weights.bin")
    os.symlink(tmp_path / "secret.bin", folder / "weights.bin")
    with pytest.raises(CheckpointError, match="through a link"):
        open_model(folder)


def test_a_custom_op_domain_is_refused(tmp_path):
    node = helper.make_node("Exfiltrate", ["mean"], ["spy"], domain="com.evil.ops")
    folder = tiny_pair(tmp_path / "m", encoder_nodes=[node], opset_domain="com.evil.ops")
    with pytest.raises(CheckpointError, match="custom domain 'com.evil.ops'"):
        open_model(folder)


def test_huge_declared_shapes_are_refused_before_onnxruntime_sees_them(tmp_path):
    folder = tiny_pair(tmp_path / "m")
    proto = onnx.load(folder / "encoder.onnx")
    dim = proto.graph.input[0].type.tensor_type.shape.dim[2]
    dim.dim_value = 10**9
    (folder / "encoder.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(CheckpointError, match="declares the shape"):
        open_model(folder)
    folder = tiny_pair(tmp_path / "n")
    proto = onnx.load(folder / "decoder.onnx")
    big = proto.graph.initializer[0]
    del big.dims[:]
    big.dims.extend([2**20, 2**20])
    (folder / "decoder.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(CheckpointError, match="too large"):
        open_model(folder)


@pytest.mark.parametrize("cut", [0, 1, 10, 50, 100, 200, -40, -5])
def test_truncated_graphs_are_refused(tmp_path, cut):
    folder = tiny_pair(tmp_path / "m")
    raw = (folder / "decoder.onnx").read_bytes()
    (folder / "decoder.onnx").write_bytes(raw[:cut])
    with pytest.raises(CheckpointError, match="decoder.onnx|onnxruntime"):
        open_model(folder)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_are_refused(tmp_path, seed):
    folder = tiny_pair(tmp_path / "m")
    (folder / "encoder.onnx").write_bytes(np.random.default_rng(seed).bytes(2000))
    with pytest.raises(CheckpointError, match="encoder.onnx"):
        open_model(folder)


def test_half_a_pair_and_a_single_onnx_file_are_explained(tmp_path):
    folder = tiny_pair(tmp_path / "m")
    (folder / "decoder.onnx").unlink()
    with pytest.raises(CheckpointError, match="no decoder.onnx"):
        open_model(folder)
    with pytest.raises(CheckpointError, match="a folder holding encoder.onnx and decoder.onnx"):
        open_model(folder / "encoder.onnx")


def test_mismatched_encoder_and_decoder_are_refused(tmp_path):
    folder = tiny_pair(tmp_path / "m")
    other = tiny_pair(tmp_path / "o", flat=True)
    (folder / "decoder.onnx").write_bytes((other / "decoder.onnx").read_bytes())  # decodes to 16 flat values: fine
    assert open_model(folder).decode(np.zeros((1, 2), np.float32)).shape == (1, 1, 4, 4)
    (folder / "explorer.json").write_text(json.dumps({"latent_dim": 3}))
    with pytest.raises(CheckpointError, match="latent_dim 3 contradicts"):
        open_model(folder)


def test_every_pathological_explorer_json_ends_in_a_checkpoint_error(tmp_path):
    from json_corpus import as_text, corpus, outcomes

    folder = tiny_pair(tmp_path / "m", outputs=("mean", "logvar"))
    good = {"format": "latent-explorer-onnx/1", "name": "m", "input_shape": [1, 4, 4], "layout": "NCHW",
            "pixel_range": [0, 1], "mean_output": "mean", "logvar_output": "logvar", "latent_dim": 2,
            "variational": True, "training": {"test_mse": 0.1}, "source": {"kind": "native"}}
    escaped, loaded = outcomes(folder, lambda doc: (folder / "explorer.json").write_text(as_text(doc)), corpus(good)[::3])
    assert not escaped, escaped[:10]
    assert loaded > 0


def test_a_browser_path_to_a_python_file_is_refused(tmp_path):
    marker = tmp_path / "ran"
    adapter = tmp_path / "adapter.py"
    adapter.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    with pytest.raises(CheckpointError, match="only from the person who starts the server"):
        open_user_model(adapter)
    assert not marker.exists()


# --- onnxruntime as the CPU engine ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["mnist-vae", "mnist-ae", "mnist-conv-ae"])
def test_onnxruntime_engine_matches_torch_eager(name, mnist):
    model = open_model(ROOT / "checkpoints" / name)
    ort_engine = InferenceEngine(model, device="cpu")
    torch_engine = InferenceEngine(model, device="cpu", runtime="torch")
    assert ort_engine.describe_device() == "CPU, onnxruntime"
    assert torch_engine.describe_device() == "CPU, PyTorch"
    x = mnist.x[:300]
    with torch.inference_mode():
        eager = model.torch_parts().encoder(torch.from_numpy(x))
    mean, logvar = ort_engine.encode_with_logvar(x)
    np.testing.assert_allclose(mean, eager[0].numpy(), rtol=1e-5, atol=1e-5)
    if logvar is not None:
        np.testing.assert_allclose(logvar, eager[1].numpy(), rtol=1e-5, atol=1e-5)
    with torch.inference_mode():
        images = model.torch_parts().decoder(eager[0]).numpy()
    np.testing.assert_allclose(ort_engine.decode(mean), images, atol=1e-5)
    np.testing.assert_allclose(ort_engine.decode_coalesced(mean[3]), images[3:4], atol=1e-5)
    np.testing.assert_allclose(ort_engine.reconstruct(x[:10]), torch_engine.reconstruct(x[:10]), atol=1e-5)


def test_gelus_as_dynamo_writes_them_are_fused_for_onnxruntime(tmp_path, mnist, monkeypatch):
    from explorer import runtimes

    native = open_model(ROOT / "checkpoints" / "mnist-vae")  # GELU after each convolution
    folder = export_onnx(native, tmp_path / "dynamo", exporters=("dynamo",))
    proto = onnx.load(str(folder / "encoder.onnx"))
    assert "Erf" in {n.op_type for n in proto.graph.node}  # the file keeps standard operators
    fused = onnx.load_from_string(runtimes.fused_for_runtime(proto))
    ops = [(n.domain, n.op_type) for n in fused.graph.node]
    assert ops.count(("com.microsoft", "Gelu")) == 2 and ("", "Erf") not in ops
    x = mnist.x[:64]
    plain = runtimes.make_session(proto.SerializeToString(), 1).run(None, {"x": x})
    for got, want in zip(runtimes.make_session(fused.SerializeToString(), 1).run(None, {"x": x}), plain):
        np.testing.assert_allclose(got, want, atol=1e-5)
    import onnx_ir

    deserialised = []
    deserialise = onnx_ir.serde.deserialize_model
    monkeypatch.setattr(onnx_ir.serde, "deserialize_model", lambda p: deserialised.append(p.graph.name) or deserialise(p))
    assert runtimes.fused_for_runtime(onnx.load(str(tiny_pair(tmp_path / "tiny") / "encoder.onnx"))) is None
    assert runtimes.fused_for_runtime(proto) is not None
    assert deserialised == [proto.graph.name]  # a graph without Erf is not even converted for the rewriter

    opened = []
    monkeypatch.setattr(runtimes, "fused_for_runtime", lambda p: opened.append(p.graph.name) or None)
    open_model(folder)
    assert len(opened) == 2  # open_model runs both graphs through it


@pytest.mark.parametrize("threads, sessions", [(1, 2), (2, 4)])
def test_the_probe_sessions_that_checked_the_graphs_run_them_where_one_thread_is_wanted(threads, sessions, tmp_path,
                                                                                        monkeypatch):
    from explorer import runtimes

    folder = tiny_pair(tmp_path / "tiny")
    made = []
    make = runtimes.make_session
    monkeypatch.setattr(runtimes, "make_session", lambda model, n: made.append(n) or make(model, n))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runner = open_model(folder).onnx_runner()
    finally:
        torch.set_num_threads(previous)
    assert len(made) == sessions and made[:2] == [1, 1]  # the two probes, then what the runner still needs
    assert runner.decoder_small.get_session_options().intra_op_num_threads == 1
    assert runner.encoder.get_session_options().intra_op_num_threads == threads
    assert runner.decode_small(np.zeros((1, runner.latent_dim), np.float32)).shape[0] == 1


def test_the_export_is_cached_by_content_hash(tmp_path, monkeypatch):
    from explorer.sources import export

    model = open_model(ROOT / "checkpoints" / "mnist-ae")
    InferenceEngine(model, device="cpu")
    assert export.cache_folder(model).is_dir()

    def must_not_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(export, "export_onnx", must_not_export)
    assert InferenceEngine(model, device="cpu").describe_device() == "CPU, onnxruntime"


def test_when_the_export_fails_torch_runs_and_the_card_says_why(monkeypatch):
    from explorer.sources import export

    def failing(*args, **kwargs):
        raise CheckpointError("could not export to ONNX (an operator it lacks)")

    monkeypatch.setattr(export, "export_onnx", failing)
    engine = InferenceEngine(open_model(ROOT / "checkpoints" / "mnist-ae"), device="cpu")
    assert isinstance(engine.runtime, type(InferenceEngine(engine.source, device="cpu", runtime="torch").runtime))
    card = "\n".join(card_lines(engine.source, engine.describe_device()))
    assert "runs on CPU, PyTorch: the ONNX export failed (could not export to ONNX (an operator it lacks))" in card
