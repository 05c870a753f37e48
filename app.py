"""Latent Explorer: streamlit run app.py"""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from explorer.checkpoint import CheckpointError
from explorer.data import BUILTIN, DatasetError
from explorer.ui import common, mapview

# The tab icon is an emoji, drawn by the browser: a ":material/...:" page icon makes every page load fetch
# the favicon from fonts.gstatic.com (the icons in the navigation come from the bundled font).
st.set_page_config(page_title="Latent Explorer", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("explorer/ui/map.py", title="Map", icon=":material/map:", url_path="home", default=True),
    st.Page("explorer/ui/interpolate.py", title="Interpolate", icon=":material/swap_horiz:", url_path="interpolate"),
    st.Page("explorer/ui/sample.py", title="Sample", icon=":material/casino:", url_path="sample"),
    st.Page("explorer/ui/arithmetic.py", title="Arithmetic", icon=":material/calculate:", url_path="arithmetic"),
    st.Page("explorer/ui/sliders.py", title="Sliders", icon=":material/tune:", url_path="sliders"),
    st.Page("explorer/ui/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page("explorer/ui/upload.py", title="Upload", icon=":material/upload:", url_path="upload"),
    st.Page("explorer/ui/anomaly.py", title="Anomaly", icon=":material/warning:", url_path="anomaly"),
    # The default page is served at "/" only; this hidden twin makes a link to "/map" open the Map too,
    # instead of Streamlit's "Page not found" dialog.
    st.Page("explorer/ui/map.py", title="Map", icon=":material/map:", url_path="map", visibility="hidden"),
]


def start_from_link(key: str, value) -> None:
    """Seed a sidebar widget from the link once per session; afterwards the widget keeps its
    own state, so moving between pages (which drops the query string) changes nothing.

    The value is written back on every run, so the server sends it to the browser each time. A
    browser that has not mounted the widgets yet (its code loads lazily; seconds on a busy or slow
    machine) sends a page switch without their values; the server keeps its own, but without this
    the browser then draws the widget at its default (no checkpoint) and sends that back."""
    st.session_state[key] = st.session_state.get(key, value)


def sidebar() -> common.Context:
    st.sidebar.title("Latent Explorer")
    shipped = common.shipped_models()
    labels = {m.label: m for m in shipped}
    wanted = common.param_list("ckpt") or ["mnist-vae"]
    by_name = {m.name: m.label for m in shipped}
    start_from_link("ckpt_pick", [by_name[name] for name in wanted if name in by_name])  # link order: first is active
    picked = st.sidebar.multiselect("Checkpoints", list(labels), key="ckpt_pick",
                                    help="The first one is the active model; Compare uses all of them.")
    paths = [labels[p].path for p in picked]
    names = [labels[p].name for p in picked]
    errors: list[str] = []

    with st.sidebar.expander("Your own checkpoint"):
        uploads = st.file_uploader("Upload .safetensors (and its config.json)", type=["safetensors", "json"],
                                   accept_multiple_files=True, key="ckpt_upload")
        start_from_link("ckpt_path", common.param("ckpt_path", ""))
        typed = st.text_input("…or a path to a checkpoint folder or file", key="ckpt_path")
    if uploads:
        try:
            paths.insert(0, stored_upload(uploads))
        except (CheckpointError, OSError) as e:
            errors.append(f"Uploaded checkpoint: {e}")
    if typed.strip():
        try:
            paths.insert(0, common.resolve_user_path(typed))
        except ValueError as e:
            errors.append(f"Checkpoint path: {e}")

    engines = []
    for path in paths:
        try:
            engines.append(common.engine_for(path))
        except CheckpointError as e:
            errors.append(f"Checkpoint {path.name}: {e}")

    options = list(BUILTIN) + ["folder or .npz path"]
    dataset_choice = common.param("data", "mnist")
    start_from_link("data_kind", dataset_choice if dataset_choice in options else options[-1])
    start_from_link("data_path", dataset_choice if dataset_choice not in BUILTIN else "")
    kind = st.sidebar.selectbox("Dataset", options, key="data_kind",
                                format_func=lambda o: {"mnist": "MNIST digits (5,000, 28×28)",
                                                       "digits": "scikit-learn digits (1,797, 8×8)"}.get(o, o))
    dataset_name = kind
    if kind not in BUILTIN:
        dataset_name = st.sidebar.text_input("Dataset path (folder of images or .npz)", key="data_path")
    dataset = None
    if dataset_name.strip() and dataset_name != "folder or .npz path":
        try:
            dataset = common.dataset_for(dataset_name)
        except (DatasetError, ValueError) as e:
            errors.append(f"Dataset: {e}")
    if dataset is not None and dataset.skipped:
        st.sidebar.warning(f"Dataset: {len(dataset.skipped)} file(s) could not be read and were left out, "
                           f"e.g. {dataset.skipped[0]}")

    common.set_params(ckpt=names, data=dataset_name if dataset_name.strip() else None,
                      ckpt_path=typed.strip() or None)
    for message in errors:
        st.sidebar.error(message)
    if engines:
        model_card(engines[0])
    return common.Context(engines=engines, dataset=dataset, dataset_name=dataset_name, errors=errors)


def stored_upload(uploads) -> Path:
    """Where the uploaded checkpoint files are stored; hashed and stored once per upload, not
    on every rerun (a large checkpoint took a noticeable part of a second to hash)."""
    ids = tuple(f.file_id for f in uploads)
    previous = st.session_state.get("ckpt_upload_stored")
    if previous is not None and previous[0] == ids and previous[1].exists():
        return previous[1]
    path = common.store_upload(uploads)
    st.session_state["ckpt_upload_stored"] = (ids, path)
    return path


def model_card(engine) -> None:
    with st.sidebar.container(border=True):
        st.markdown(f"**{engine.source.name}**")
        st.caption("  \n".join(engine.card_lines()))


st.session_state["context"] = sidebar()
try:
    if os.environ.get("LATENT_EXPLORER_WARM_START", "1") != "0":  # the tests switch it off
        mapview.warm_start()
except (CheckpointError, DatasetError, OSError) as e:  # a broken install must not block the app
    st.sidebar.warning(f"Could not prepare the default maps: {e}")
try:
    st.navigation(PAGES).run()
finally:
    # Once per server, after the first page (not before it: the collection takes 0.3-0.6 s), the
    # libraries it loaded are kept out of the collection Streamlit runs after every run.
    common.freeze_startup_heap()
