"""The sidebar: the checkpoints and the dataset every page works on (shipped models, uploads,
typed paths, the Keras bottleneck, the dataset and its preprocessing), what went wrong with them,
and the active model's card."""
from __future__ import annotations

import streamlit as st

from explorer import cache_budget, store_dataset
from explorer.dataset_spec import (BUILTIN, GENERATED, NO_MODEL_SHAPE, DatasetError, default_preprocessing, is_store,
                                   preprocessing_for)
from explorer.data import NotDigits
from explorer.store_dataset import StoreDataset
from explorer.safe_read import CheckpointError
from explorer.shipped import DEFAULT_CHECKPOINT
from explorer.sources import check_fits
from explorer.sources.uploads import ACCEPTED_TYPES
from explorer.ui import checkpoint_uploads, dataset_cache, engine_cache, link_params, model_card, session
from explorer.ui.paths import WHERE_PATHS_MAY_POINT, resolve_user_path

DATASET_PATH = "folder or .npz path"  # the dataset choice that reads the path typed below it (a store's too)
FULL_GRID = "shapes:full"  # the other size of shapes offered (smaller ones are slices of its store)


def preprocessing_words(preprocessing: str, channels: int) -> str:
    """What a preprocessing does to a folder's files read at ``channels`` channels."""
    if preprocessing == "digit":
        return "digit (gray, inverted, centred like MNIST)"
    return f"plain ({'colour kept' if channels == 3 else 'turned gray'}, shorter side resized, centre crop)"


def read_plainly() -> None:
    st.session_state["prep"] = "plain"


def sidebar() -> session.Context:
    """The checkpoints and the dataset every page works on. Each choice is bound to the link:
    a view is shareable by its URL, and Streamlit keeps the choice across page switches (and
    sends it along to a browser that switched page before it had mounted the sidebar).

    The active model is named once, in the card: a model of your own (uploaded or typed) is the
    active one, and the list above it then reads as the models it is compared with."""
    st.sidebar.title("Latent Explorer")
    list_slot = st.sidebar.container()  # filled below, once it is known whether a model of your own is active
    errors: list[str] = link_params.drop_unusable_numbers()  # before any widget reads the link
    own = []  # paths of a model of your own: the typed one, the uploaded one

    with st.sidebar.expander("Your own checkpoint"):
        uploads = st.file_uploader("Upload a checkpoint (.safetensors, + config.json), an ONNX pair (encoder and "
                                   "decoder .onnx, + explorer.json) or .keras file(s)", type=ACCEPTED_TYPES,
                                   accept_multiple_files=True, key="ckpt_upload")
        typed = st.text_input("…or a path to a checkpoint, an ONNX folder or a .keras file", key="ckpt_path",
                              bind="query-params")
        st.caption(WHERE_PATHS_MAY_POINT)
        bottleneck = st.text_input("Keras bottleneck layer (only when asked for)", key="ckpt_bottleneck",
                                   bind="query-params",
                                   help="For a one-file Keras autoencoder that is one stack of layers: the layer "
                                        "whose output is the code.")
    if typed.strip():
        try:
            own.append(resolve_user_path(typed))
        except ValueError as e:
            errors.append(f"Checkpoint path: {e}")
    if uploads:
        try:
            own.append(checkpoint_uploads.stored_upload(uploads))
        except (CheckpointError, OSError) as e:
            errors.append(f"Uploaded checkpoint: {e}")

    loaded = []
    for path in own:
        try:
            loaded.append(engine_cache.engine_for(path, from_browser=True, bottleneck=bottleneck))
        except CheckpointError as e:
            errors.append(f"Checkpoint {path.name}: {e}")
    own_active = bool(loaded)
    listed = engine_cache.listed_models()
    picked = list_slot.multiselect(
        "Compared with it" if own_active else "Checkpoints", list(listed), default=[DEFAULT_CHECKPOINT],
        key="ckpt", bind="query-params",
        help=("Your own model (in the card below) is the active one; these join it on the Compare page."
              if own_active else "The first one is the active model; Compare uses all of them. Your own PyTorch "
                                 "code joins this list when the server is started with --model adapter.py."))
    for name in picked:
        if name in listed:
            try:
                loaded.append(engine_cache.engine_for(listed[name], from_browser=False))
            except CheckpointError as e:
                errors.append(f"Checkpoint {name}: {e}")

    dataset_name, dataset = dataset_choice(loaded[0] if loaded else None, errors)
    if isinstance(dataset, StoreDataset):
        st.sidebar.caption(store_dataset.summary(dataset.store))
        if dataset.store.problems:
            st.sidebar.warning(f"Store: {store_dataset.problems_text(dataset.store)}")
    if dataset is not None and dataset.skipped:
        st.sidebar.warning(f"Dataset: {len(dataset.skipped)} file(s) could not be read and were left out, "
                           f"e.g. {dataset.skipped[0]}")

    misfit = None  # the active model and the dataset, checked once here for every page
    if loaded and dataset is not None:
        try:
            check_fits(loaded[0].source, dataset.input_shape, dataset_name)
        except CheckpointError as e:
            misfit = str(e)

    for message in errors:
        st.sidebar.error(message)
    if loaded:
        model_card.show(loaded[0], own_active)
    storage_line()
    return session.Context(engines=loaded, dataset=dataset, dataset_name=dataset_name, errors=errors, misfit=misfit,
                           own_model=own_active)


def dataset_choice(engine, errors: list[str]):
    """The dataset picked in the sidebar, its files read for the active model (its input shape,
    and the preprocessing picked; auto: ``dataset_spec.preprocessing_for`` the model)."""
    kind = st.sidebar.selectbox("Dataset", [*BUILTIN, *GENERATED, FULL_GRID, DATASET_PATH], key="data",
                                bind="query-params",
                                help="mnist: 5,000 MNIST digits, 28×28; digits: scikit-learn's 1,797 digits, 8×8; "
                                     "shapes: 50,000 generated 64×64 colour sprites with known factors; "
                                     "shapes:full: all 144,000 of them (typed as a path, shapes:N is the first N "
                                     "of those in a random order); or a folder of images (one subfolder per "
                                     "class), an .npz file, or a store of encoded images (the --out folder of "
                                     "python -m explorer encode).")
    model = engine.source if engine else None
    name, preprocessing = kind, None
    if kind == DATASET_PATH:
        name = st.sidebar.text_input("Dataset path (folder of images, .npz or store)", key="data_path",
                                     bind="query-params", help=WHERE_PATHS_MAY_POINT)
        if not typed_store(name):  # a store's images were read, and preprocessed, when it was encoded
            # Plain option names: a bound widget writes the shown name into the link.
            picked = st.sidebar.selectbox("Preprocessing", ["auto", "digit", "plain"], key="prep", bind="query-params",
                                          help="How a folder's files become the model's input. Digit: like an "
                                               "uploaded digit (for photos of digits); plain: any picture; auto: as the "
                                               "model's training data was read where it recorded that, else digit only "
                                               "for a 1-channel model trained on digits.")
            shape = list(model.input_shape) if model else list(NO_MODEL_SHAPE)
            if picked != "auto":
                preprocessing = picked
            else:
                preprocessing = preprocessing_for(model) if model else default_preprocessing(shape)
            st.sidebar.caption(f"Files are read as {shape[0]}×{shape[1]}×{shape[2]}, "
                               f"{preprocessing_words(preprocessing, shape[0])}.")
    if not name.strip():
        return name, None
    try:
        return name, dataset_cache.dataset_for(name, model, preprocessing)
    except NotDigits as e:
        errors.append(f"Dataset: {e}.")
        st.sidebar.button("Read the folder with plain preprocessing", on_click=read_plainly, key="read_plainly")
        return name, None
    except (DatasetError, ValueError) as e:
        errors.append(f"Dataset: {e}")
        return name, None


def storage_line() -> None:
    """What the app keeps on disk for every session, against its one budget."""
    usage = cache_budget.usage(max_age_s=cache_budget.USAGE_MAX_AGE_S)
    st.sidebar.caption(f"Storage: {usage.line()}", help="The disk cache shared by every session: generated and "
                       "decoded images, encodings, maps, uploads. Past the budget (LATENT_EXPLORER_CACHE_GB) the "
                       "entries used longest ago are deleted and made again when needed.")


def typed_store(text: str) -> bool:
    """Whether a typed dataset path is a store the app may read (its links are checked when it
    is opened, by ``dataset_cache.dataset_for``, which also says what is wrong with it)."""
    if not text.strip():
        return False
    try:
        return is_store(resolve_user_path(text, check_links=False))
    except (OSError, ValueError):
        return False
