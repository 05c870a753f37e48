"""The map of a dataset's codes, computed: which map a session wants, and the job that makes it.

A map is computed once per (checkpoint, dataset, method, parameters) for every session: PCA at
once, t-SNE and UMAP in the background (``jobs``), with PCA shown until they are ready. A 2-D
model's latent space is drawn as it is. A store's codes (up to a million) are mapped by
``projection.project_large``: PCA on all of them, t-SNE and UMAP fitted on a sample stratified by
label and the rest placed with ``transform``; the page says so. Drawing a map is another module's
(``map_webgl``, ``map_plotly``).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from explorer import cache, projection
from explorer.data import Dataset
from explorer.engine import DatasetCodes, InferenceEngine
from explorer.shipped import DEFAULT_CHECKPOINT, SHIPPED_DIR
from explorer.store_dataset import StoreDataset
from explorer.ui import dataset_cache, engine_cache, heap, jobs

CHOICE_KEY = "map_choice"  # the last map asked for, so other pages show the same one
QUICK_WAIT_S = 0.5  # a slow method's map cached on disk arrives within this: no flash of PCA
POLL_S = 1.0


@dataclass
class MapChoice:
    method: str = "pca"
    params: dict = field(default_factory=dict)  # that method's parameters, all of them


@dataclass
class MapState:
    coords: np.ndarray  # (N, 2) position of every dataset image
    projection: projection.Projection  # what is drawn: transform, inverse, label, axis names
    wanted: str  # the method asked for
    pending: Future | None = None  # the wanted map, still computing
    job: str | None = None  # its key, for its progress
    error: str | None = None  # why the wanted map is not shown
    busy: str | None = None  # the queue was full: the wanted map was not queued
    note: str | None = None  # how a map of many codes was made (fitted on a sample, the rest placed)


# --- which map ---------------------------------------------------------------------------------
def remember(choice: MapChoice) -> None:
    """Keep the Map page's choice in the session, so the other pages show the same map."""
    st.session_state[CHOICE_KEY] = choice


def last_choice() -> MapChoice:
    return st.session_state.get(CHOICE_KEY) or MapChoice()


# --- computing it ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """Where the codes of a map come from: the key parts of its cache entries, and for a store's
    codes the labels its sample is stratified by (``large``: mapped with ``project_large``)."""

    key_parts: tuple  # (checkpoint content hash, dataset identity)
    large: bool = False
    labels: np.ndarray | None = field(default=None, compare=False, hash=False)


def source_of(engine: InferenceEngine, dataset: Dataset) -> Source:
    large = isinstance(dataset, StoreDataset)
    return Source((engine.source.content_hash, dataset.identity), large, dataset.y if large else None)


@st.cache_resource(show_spinner=False, max_entries=32)
def _instant_map(content_hash: str, dataset_identity: str, method: str, _codes: np.ndarray,
                 large: bool = False) -> projection.ProjectionResult | projection.LargeMap:
    if large:
        return projection.project_large(_codes, method, {}, cache_key_parts=(content_hash, dataset_identity))
    return projection.project(_codes, method, {}, (content_hash, dataset_identity))


def sample_note(result, count: int) -> str | None:
    """How a map of many codes was made, where it was fitted on a sample."""
    sample = getattr(result, "sample", None)
    if sample is None or len(sample) == count:
        return None
    return (f"{result.projection.label} of {count:,} codes: fitted on a sample of {len(sample):,} (stratified by "
            f"label where there are labels), the other {count - len(sample):,} placed in it with transform.")


FIRST_MAP_SERVED = threading.Event()  # set once a page has sent its first map to a browser
WARM_START_GRACE_S = 3.0  # after that, the browser's own time to draw it, before the slow work starts
WARM_START_LATEST_S = 20.0  # the slow work starts by then even if no map was asked for
_umap_warm_up: threading.Thread | None = None
_umap_lock = threading.Lock()


def warm_up_umap() -> threading.Thread:
    """Compile UMAP's numba code once per server, on its own thread so maps queued for the
    background worker do not wait behind it; after the first map has been drawn (see warm_start)."""
    global _umap_warm_up
    with _umap_lock:
        if _umap_warm_up is None:
            _umap_warm_up = threading.Thread(target=_warm_up, name="umap-warm-up", daemon=True)
            _umap_warm_up.start()
        return _umap_warm_up


def _warm_up() -> None:
    FIRST_MAP_SERVED.wait(WARM_START_LATEST_S)
    time.sleep(WARM_START_GRACE_S)
    projection.warm_up()
    heap.freeze_heap()  # numba's compiled code lives as long as the server: out of the collector's way


def _job_key(source: Source, method: str, params: dict) -> str:
    return cache.key("map", *source.key_parts, *(["large"] if source.large else []), method, params)


def session_id() -> str | None:
    """This browser session's id (None outside a script run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def _start(source: Source, codes: np.ndarray, method: str, params: dict, session: str | None = None) -> Future:
    """The background job computing this map: one per map for all sessions, ``session`` waiting
    for it (None: the server's own). The worker gets plain arrays and values, and reports its
    progress to the job store. Raises jobs.Busy when the queue is full."""
    key = _job_key(source, method, params)
    if source.large:
        return jobs.submit(key, projection.project_large, codes, method, params, source.labels, projection.SAMPLE_FIT,
                           source.key_parts, session=session)
    return jobs.submit(key, projection.project, codes, method, params, source.key_parts, session=session)


def first_map_sent() -> None:
    """A page has sent a map: the background work that waited for it may start (after a grace)."""
    FIRST_MAP_SERVED.set()


@st.cache_resource(show_spinner=False)
def warm_start(default_checkpoint: str = DEFAULT_CHECKPOINT, dataset_name: str = "mnist") -> None:
    """Once per server, off the request path: compile UMAP, and queue the slow maps of the
    model the app opens on, so they land in the disk cache before anyone asks. Other models'
    maps are made on first request, then cached on disk too. On 2 cores this work would slow
    the first map down by seconds (numba's compilation alone takes 8-30 s of a core), so it
    waits until the first map has been sent and drawn."""
    engine = engine_cache.engine_for(SHIPPED_DIR / default_checkpoint)
    dataset = dataset_cache.dataset_for(dataset_name)
    codes = engine.encode_dataset(dataset).codes  # read from the disk cache after the first run
    source = source_of(engine, dataset)

    warm_up_umap()

    def later() -> None:
        FIRST_MAP_SERVED.wait(WARM_START_LATEST_S)
        time.sleep(WARM_START_GRACE_S)
        for method in ("umap", "tsne"):
            _start(source, codes, method, projection.default_params(method))

    threading.Thread(target=later, name="warm-start", daemon=True).start()


def current_map(engine: InferenceEngine, dataset: Dataset, codes: DatasetCodes, choice: MapChoice) -> MapState:
    """The map to draw now: the wanted one if ready, else PCA with the wanted one pending. A
    choice made for another model (codes of another size) falls back to this model's first map."""
    offered = projection.methods_for(engine.latent_dim)
    if choice.method not in offered:
        choice = MapChoice(offered[0])
    source = source_of(engine, dataset)
    if projection.PROJECTIONS[choice.method].instant:
        result = _instant_map(*source.key_parts, choice.method, codes.codes, source.large)
        return MapState(result.coords, result.projection, choice.method)
    pca = _instant_map(*source.key_parts, "pca", codes.codes, source.large)
    job = _job_key(source, choice.method, choice.params)
    try:
        future = _start(source, codes.codes, choice.method, choice.params, session=session_id())
    except jobs.Busy as e:
        state = _instead_of(choice, pca)
        state.busy = f"The {projection.label(choice.method)} map was not queued: {e}. PCA is shown meanwhile."
        return state
    try:
        result = future.result(timeout=QUICK_WAIT_S)
    except (FutureTimeout, CancelledError):  # computing, or stopped for nobody waited: followed, asked again
        return _instead_of(choice, pca, pending=future, job=job, large=source.large)
    except Exception as e:  # the job's own error: shown until the job store retries it
        return _instead_of(choice, pca, error=str(e) or type(e).__name__)
    return MapState(result.coords, result.projection, choice.method, note=sample_note(result, len(codes.codes)))


def ready_maps(engine: InferenceEngine, dataset: Dataset, codes: DatasetCodes,
               params: dict[str, dict] | None = None) -> dict[str, projection.ProjectionResult]:
    """Every map of these codes that can be drawn now without computing anything: the instant
    ones, and the slow ones (with ``params[method]``, else the defaults) that a job has finished,
    in this server or in an earlier one (then read from the disk cache). The page switches
    between these without asking the server."""
    source = source_of(engine, dataset)
    ready: dict[str, projection.ProjectionResult] = {}
    for method in projection.methods_for(engine.latent_dim):
        if projection.PROJECTIONS[method].instant:
            ready[method] = _instant_map(*source.key_parts, method, codes.codes, source.large)
            continue
        chosen = (params or {}).get(method) or projection.default_params(method)
        future = jobs.get(_job_key(source, method, chosen))
        if future is None and _is_cached(source, codes.codes, method, chosen):
            future = _start(source, codes.codes, method, chosen)
            try:
                future.result(timeout=QUICK_WAIT_S)
            except Exception:  # still running, or failed: not ready
                pass
        if future is not None and future.done() and not future.cancelled() and future.exception() is None:
            ready[method] = future.result()
    return ready


def _is_cached(source: Source, codes: np.ndarray, method: str, params: dict) -> bool:
    if source.large:
        return projection.is_large_cached(codes, method, params, source.labels, projection.SAMPLE_FIT, source.key_parts)
    return projection.is_cached(codes, method, params, source.key_parts)


def _instead_of(choice: MapChoice, pca: projection.ProjectionResult, error: str | None = None,
                pending: Future | None = None, job: str | None = None, large: bool = False) -> MapState:
    """PCA, shown while the wanted map computes or because it failed."""
    label = projection.label(choice.method)
    why = f"The {label} map could not be made: {error}. Showing PCA instead." if error else None
    count = len(pca.coords)
    note = (f"The {label} map of these {count:,} codes is fitted on a sample of at most "
            f"{min(count, projection.SAMPLE_FIT):,} (stratified by label where there are labels), and the rest "
            f"placed in it with transform." if large and pending is not None and count > projection.SAMPLE_FIT else None)
    return MapState(pca.coords, pca.projection, choice.method, pending=pending, job=job, error=why, note=note)


def explain(state: MapState) -> None:
    """Say what the map is, why it is not the one asked for, and follow a pending one."""
    if state.projection.method == "latent":
        st.info("This model's latent space is 2-D, so the map is the latent space itself, with no projection: "
                "x is z0, y is z1.")
    if state.error:
        st.error(state.error)
    if state.busy:
        st.warning(state.busy)
    if state.note:
        st.caption(state.note)
    if state.pending is not None:
        _follow(state.pending, state.job, projection.label(state.wanted))


@st.fragment(run_every=POLL_S)
def _follow(future: Future, job: str, label: str) -> None:
    # Polls without blocking anyone (and tells the queue this session still waits); the whole
    # page reruns once to swap the finished map in.
    if future.done():
        st.rerun()
    status = jobs.status(job, session_id())
    if status.state == "queued":
        st.progress(0.0, text=f"The {label} map is queued: {jobs.maps_are(status.ahead)} ahead of it. PCA is shown "
                              f"meanwhile; the {label} map replaces it when ready.")
    else:
        st.progress(status.progress, text=f"Computing the {label} map in the background ({status.progress:.0%}). "
                                          f"PCA is shown meanwhile; the {label} map replaces it when ready.")
