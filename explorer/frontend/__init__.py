"""The in-page front end: one Streamlit component, ``explorer.live``, whose files are this folder.

Its JavaScript (``main.js`` and the small ES modules it imports, one concern each) runs in the
page, with onnxruntime-web from npm (``package.json``, pinned by ``package-lock.json``;
``npm ci`` here installs it into ``node_modules/``). Streamlit serves the folder at
``/_stcore/bidi-components/explorer.live/`` because the project's ``pyproject.toml`` declares it
as the component's ``asset_dir`` and the package is installed (``-e .`` in requirements.txt).
Nothing is fetched from anywhere else.

The Python beside it: ``decoders`` (the active model's decoder, exported and offered to the
page), ``status`` (what this browser reported: does the page decode, or the server),
``sliders`` and ``path`` (the views' wrappers). Pages call those, never ``mount`` directly.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable

import streamlit as st
from streamlit.errors import StreamlitAPIException

COMPONENT_NAME = "explorer.live"  # "<project>.<component>", as pyproject.toml declares it
FRONTEND_DIR = Path(__file__).resolve().parent
ORT_DIST = FRONTEND_DIR / "node_modules" / "onnxruntime-web" / "dist"
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")  # all the page loads of it


@functools.cache
def _component() -> Callable[..., Any]:
    """The mounting function, made once per process (Streamlit warns when a name is registered twice)."""
    return st.components.v2.component(COMPONENT_NAME, js="main.js", css="style.css")


@functools.cache
def ort_version() -> str:
    """The onnxruntime-web npm installed ("" when it is not installed)."""
    try:
        return str(json.loads((ORT_DIST.parent / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return ""


def missing() -> str | None:
    """Why the front end cannot be mounted here, or None when it can."""
    absent = [name for name in ORT_FILES if not (ORT_DIST / name).is_file()]
    if absent:
        return "the front end's JavaScript dependencies are not installed (run `npm ci` in explorer/frontend)"
    try:
        _component()
    except StreamlitAPIException:
        return "the app is not installed as a package, so Streamlit does not serve its front end (pip install -e .)"
    return None


def mount(view: str, data: dict, key: str, **callbacks: Callable[[], None]) -> Any:
    """One instance of the component showing ``view`` (a key of main.js's VIEWS). ``data`` is
    sent on every run: JSON values, and pandas DataFrames (first level only) as Arrow tables,
    whose number columns arrive in the page as typed arrays. ``callbacks``: on_<state>_change
    for every state value the view sets (Streamlit keeps only those)."""
    return _component()(key=key, data={"view": view, **data}, **callbacks)
