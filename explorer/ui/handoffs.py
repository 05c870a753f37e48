"""What one page hands to another within a session: the Map's selection, the codes pinned on the map, and the upload."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from ..engine import InferenceEngine
from ..data import Dataset

SELECTION_KEY, SELECTION_DATASET_KEY = "selection", "selection_dataset"
UPLOAD_IMAGE_KEY, UPLOAD_NAME_KEY, UPLOAD_CODE_KEY = "upload_image", "upload_name", "upload_code"
PINS_KEY = "map_pins"  # codes pinned on the map: [(model hash, dataset identity, Pin)], oldest first
MAX_PINS = 8


def set_selection(indices, dataset: Dataset) -> None:
    """Remember the Map's selected dataset indices for the other pages."""
    st.session_state[SELECTION_KEY] = [int(i) for i in indices]
    st.session_state[SELECTION_DATASET_KEY] = dataset.identity


def get_selection(dataset: Dataset) -> list[int]:
    """The Map's selection as dataset indices, empty when it was made on another dataset."""
    if st.session_state.get(SELECTION_DATASET_KEY, dataset.identity) != dataset.identity:
        return []
    return [i for i in st.session_state.get(SELECTION_KEY, []) if 0 <= i < len(dataset.x)]


@dataclass
class Pin:
    code: np.ndarray  # (D,) the code under the cursor when the map was clicked
    where: str  # how it was found, for captions: "PCA (0.52, -1.30)"
    nearest: int  # the dataset index of the nearest real point


def add_pin(pin: Pin, engine: InferenceEngine, dataset: Dataset) -> None:
    """Keep a code pinned on the map for Interpolate, Arithmetic and Sliders (the last MAX_PINS)."""
    pins = [entry for entry in st.session_state.get(PINS_KEY, []) if entry[:2] == _owner(engine, dataset)]
    st.session_state[PINS_KEY] = (pins + [(*_owner(engine, dataset), pin)])[-MAX_PINS:]


def get_pins(engine: InferenceEngine, dataset: Dataset) -> list[Pin]:
    """The codes pinned on the map for this model and dataset, oldest first."""
    return [entry[2] for entry in st.session_state.get(PINS_KEY, []) if entry[:2] == _owner(engine, dataset)]


def clear_pins() -> None:
    st.session_state.pop(PINS_KEY, None)


def _owner(engine: InferenceEngine, dataset: Dataset) -> tuple[str, str]:
    return engine.source.content_hash, dataset.identity


def set_upload(image: np.ndarray, name: str, engine: InferenceEngine) -> np.ndarray:
    """Remember an uploaded image (preprocessed, (C, H, W)) and its code under ``engine``,
    which is returned."""
    code = engine.encode(image)[0]
    st.session_state[UPLOAD_IMAGE_KEY] = image
    st.session_state[UPLOAD_NAME_KEY] = name
    st.session_state[UPLOAD_CODE_KEY] = code
    return code


def clear_upload() -> None:
    for name in (UPLOAD_IMAGE_KEY, UPLOAD_NAME_KEY, UPLOAD_CODE_KEY):
        st.session_state.pop(name, None)


def uploaded_image() -> tuple[np.ndarray, str] | None:
    """The last upload, preprocessed to (C, H, W), with its file name; None if there is none."""
    image = st.session_state.get(UPLOAD_IMAGE_KEY)
    return None if image is None else (image, st.session_state.get(UPLOAD_NAME_KEY, "upload"))


def upload_code(engine: InferenceEngine) -> np.ndarray | None:
    """The upload's code under ``engine`` (encoded again, so it follows a change of model);
    None when there is no upload or it does not fit the model's input."""
    upload = uploaded_image()
    if upload is None or tuple(upload[0].shape) != tuple(engine.input_shape):
        return None
    return engine.encode(upload[0])[0]
