"""What uploaded files make: native, ONNX pair, Keras; a Python file is refused."""
from __future__ import annotations

import pytest

from explorer.checkpoint import CheckpointError
from explorer.sources.uploads import plan_upload


@pytest.mark.parametrize("names, kind, stored, entry", [
    (["m.safetensors"], "native", {"model.safetensors": "m.safetensors"}, "model.safetensors"),
    (["w.safetensors", "config.json"], "native", {"config.json": "config.json", "model.safetensors": "w.safetensors"}, ""),
    (["my_encoder.onnx", "my_decoder.onnx"], "onnx", {"encoder.onnx": "my_encoder.onnx",
                                                      "decoder.onnx": "my_decoder.onnx"}, ""),
    (["decoder.onnx", "encoder.onnx", "explorer.json", "weights.data"], "onnx",
     {"encoder.onnx": "encoder.onnx", "decoder.onnx": "decoder.onnx", "explorer.json": "explorer.json",
      "weights.data": "weights.data"}, ""),
    (["ae.keras"], "keras", {"model.keras": "ae.keras"}, "model.keras"),
    (["enc.keras", "dec.keras"], "keras", {"encoder.keras": "enc.keras", "decoder.keras": "dec.keras"}, ""),
])
def test_uploads_are_recognised(names, kind, stored, entry):
    plan = plan_upload(names)
    assert (plan.kind, plan.names, plan.entry) == (kind, stored, entry)


@pytest.mark.parametrize("names, message", [
    (["adapter.py"], "never from the browser"),
    (["m.safetensors", "evil.py"], "never from the browser"),
    (["a.onnx"], "two files"),
    (["a.onnx", "b.onnx"], "cannot tell the encoder from the decoder"),
    (["encoder.onnx", "decoder.onnx", "a.json", "b.json"], "at most one explorer.json"),
    (["ae.keras", "encoder.onnx", "decoder.onnx"], "mix model formats"),
    (["ae.keras", "config.json"], "carries its own config"),
    (["a.keras", "b.keras", "c.keras"], "one autoencoder .keras"),
    (["notes.txt"], "not model files"),
    (["weights.data"], "go with an ONNX pair"),
    ([], "upload"),
])
def test_bad_uploads_are_explained(names, message):
    with pytest.raises(CheckpointError, match=message):
        plan_upload(names)
