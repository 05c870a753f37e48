"""What a set of files uploaded in the browser makes, and under which names to store them.

The sidebar stores uploads in a folder named by their content; ``plan_upload`` says which
file goes under which name there and what to open afterwards (the folder, or one file in it).
A Python file is refused: an adapter runs code, so only the server's starter can name one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from ..checkpoint import CONFIG_NAME, LEGACY_WEIGHTS_NAME, WEIGHTS_NAME
from ..safe_read import CheckpointError

ACCEPTED_SUFFIXES = (".safetensors", ".pt", ".json", ".onnx", ".keras", ".data", ".bin")
# st.file_uploader's type=: the browser's picker offers these. One MIME type among them turns Streamlit's own
# check of the names off, so that plan_upload refuses any other file with its own message (a .py included).
ACCEPTED_TYPES = ["safetensors", "pt", "application/json", "onnx", "keras", "data", "bin"]
WHAT = ("upload a .safetensors (optionally with its config.json), an ONNX pair (encoder .onnx + decoder .onnx, "
        "optionally with explorer.json), or .keras file(s)")


@dataclass
class UploadPlan:
    kind: str  # "native", "onnx" or "keras"
    names: dict[str, str]  # stored name -> uploaded name
    entry: str  # what to open, relative to the folder ("" for the folder itself)


def _role(name: str, what: str) -> str | None:
    stem = PurePath(name).stem.lower()
    has_enc, has_dec = "enc" in stem, "dec" in stem
    if has_enc == has_dec:
        return None
    return "encoder" if has_enc else "decoder"


def plan_upload(names: list[str]) -> UploadPlan:
    if not names:
        raise CheckpointError(WHAT)
    lower = [n.lower() for n in names]
    if any(n.endswith(".py") for n in lower):
        raise CheckpointError("a Python adapter runs code, so it is accepted only from the person who starts the server "
                              "(streamlit run app.py -- --model FILE.py, or $LATENT_EXPLORER_MODELS), never from the browser")
    others = [n for n, low in zip(names, lower) if not low.endswith(ACCEPTED_SUFFIXES)]
    if others:
        raise CheckpointError(f"not model files: {others}; {WHAT}")
    if len(set(lower)) != len(lower):
        raise CheckpointError(f"the same file name was uploaded twice: {names}")
    by_suffix: dict[str, list[str]] = {}
    for n in names:
        by_suffix.setdefault(PurePath(n).suffix.lower(), []).append(n)
    onnx, keras = by_suffix.get(".onnx", []), by_suffix.get(".keras", [])
    weights = by_suffix.get(".safetensors", []) + by_suffix.get(".pt", [])
    jsons = by_suffix.get(".json", [])
    data = by_suffix.get(".data", []) + by_suffix.get(".bin", [])
    if sum(bool(k) for k in (onnx, keras, weights)) > 1:
        raise CheckpointError(f"these files mix model formats ({names}); {WHAT}")
    if onnx:
        if len(onnx) != 2:
            raise CheckpointError(f"an ONNX model is two files, an encoder .onnx and a decoder .onnx; got {onnx}")
        roles = {_role(n, "onnx"): n for n in onnx}
        if set(roles) != {"encoder", "decoder"}:
            raise CheckpointError(f"cannot tell the encoder from the decoder in {onnx}: name them encoder.onnx and "
                                  "decoder.onnx")
        if len(jsons) > 1:
            raise CheckpointError(f"upload at most one explorer.json with the ONNX pair; got {jsons}")
        stored = {"encoder.onnx": roles["encoder"], "decoder.onnx": roles["decoder"]}
        if jsons:
            stored["explorer.json"] = jsons[0]
        stored.update({PurePath(n).name: n for n in data})  # external data, under the name the graph gives
        return UploadPlan("onnx", stored, "")
    if data:
        raise CheckpointError(f"{data}: external data files go with an ONNX pair")
    if keras:
        if jsons:
            raise CheckpointError(f"a .keras file carries its own config; do not upload {jsons} with it")
        if len(keras) == 1:
            return UploadPlan("keras", {"model.keras": keras[0]}, "model.keras")
        if len(keras) == 2:
            roles = {_role(n, "keras"): n for n in keras}
            if set(roles) != {"encoder", "decoder"}:
                raise CheckpointError(f"cannot tell the encoder from the decoder in {keras}: name them encoder.keras "
                                      "and decoder.keras")
            return UploadPlan("keras", {"encoder.keras": roles["encoder"], "decoder.keras": roles["decoder"]}, "")
        raise CheckpointError(f"upload one autoencoder .keras, or an encoder and a decoder .keras; got {keras}")
    if len(weights) != 1:
        raise CheckpointError(f"upload one weights file (.safetensors), optionally with its config.json; got {names}")
    if len(jsons) > 1:
        raise CheckpointError(f"upload at most one config.json with the weights; got {names}")
    if jsons:
        weights_name = WEIGHTS_NAME if weights[0].lower().endswith(".safetensors") else LEGACY_WEIGHTS_NAME
        return UploadPlan("native", {CONFIG_NAME: jsons[0], weights_name: weights[0]}, "")
    return UploadPlan("native", {WEIGHTS_NAME: weights[0]}, WEIGHTS_NAME)
