"""Latent Explorer: streamlit run app.py"""
from __future__ import annotations

import os

import streamlit as st

from explorer.checkpoint import CheckpointError
from explorer.data import BUILTIN, DatasetError
from explorer.shipped import DEFAULT_CHECKPOINT
from explorer.ui import checkpoint_uploads, datasets, engines, heap, mapview, session
from explorer.ui.paths import resolve_user_path

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


DATASET_PATH = "folder or .npz path"  # the dataset choice that reads the path typed below it


def sidebar() -> session.Context:
    """The checkpoints and the dataset every page works on. Each choice is bound to the link:
    a view is shareable by its URL, and Streamlit keeps the choice across page switches (and
    sends it along to a browser that switched page before it had mounted the sidebar)."""
    st.sidebar.title("Latent Explorer")
    shipped = {m.name: m for m in engines.shipped_models()}
    picked = st.sidebar.multiselect("Checkpoints", list(shipped), default=[DEFAULT_CHECKPOINT],
                                    key="ckpt", bind="query-params",
                                    help="The first one is the active model; Compare uses all of them.")
    paths = [shipped[name].path for name in picked]
    errors: list[str] = []

    with st.sidebar.expander("Your own checkpoint"):
        uploads = st.file_uploader("Upload .safetensors (and its config.json)", type=["safetensors", "json"],
                                   accept_multiple_files=True, key="ckpt_upload")
        typed = st.text_input("…or a path to a checkpoint folder or file", key="ckpt_path", bind="query-params")
    if uploads:
        try:
            paths.insert(0, checkpoint_uploads.stored_upload(uploads))
        except (CheckpointError, OSError) as e:
            errors.append(f"Uploaded checkpoint: {e}")
    if typed.strip():
        try:
            paths.insert(0, resolve_user_path(typed))
        except ValueError as e:
            errors.append(f"Checkpoint path: {e}")

    loaded = []
    for path in paths:
        try:
            loaded.append(engines.engine_for(path))
        except CheckpointError as e:
            errors.append(f"Checkpoint {path.name}: {e}")

    kind = st.sidebar.selectbox("Dataset", [*BUILTIN, DATASET_PATH], key="data", bind="query-params",
                                help="mnist: 5,000 MNIST digits, 28×28; digits: scikit-learn's 1,797 digits, 8×8; "
                                     "or a folder of images (one subfolder per class) or an .npz file.")
    dataset_name = kind
    if kind == DATASET_PATH:
        dataset_name = st.sidebar.text_input("Dataset path (folder of images or .npz)", key="data_path",
                                             bind="query-params")
    dataset = None
    if dataset_name.strip():
        try:
            dataset = datasets.dataset_for(dataset_name)
        except (DatasetError, ValueError) as e:
            errors.append(f"Dataset: {e}")
    if dataset is not None and dataset.skipped:
        st.sidebar.warning(f"Dataset: {len(dataset.skipped)} file(s) could not be read and were left out, "
                           f"e.g. {dataset.skipped[0]}")

    for message in errors:
        st.sidebar.error(message)
    if loaded:
        model_card(loaded[0])
    return session.Context(engines=loaded, dataset=dataset, dataset_name=dataset_name, errors=errors)


def model_card(engine) -> None:
    with st.sidebar.container(border=True):
        st.markdown(f"**{engine.source.name}**")
        st.caption("  \n".join(engine.card_lines()))


session.set_context(sidebar())
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
    heap.freeze_startup_heap()
