"""The map drawn in the page with WebGL: the component ``explorer.map`` (its ES modules are
explorer/frontend/map/), fed once per (model, dataset) and once per projection with binary
arrays (explorer/map_arrays.py) that the page fetches from the app's own server.

What the page does without the server: switching between the projections already computed,
recolouring, pan, zoom, the decoded image under the cursor and the nearest real image. What comes
back: the view shown (``view``: projection and colouring, for the link and the other pages), a
selection (``selection``: a bitmask, read here into indices) and a pinned code (``pin``, a trigger).

Where the component cannot run (not installed as a package, an AppTest, the bundle missing,
WebGL off in the browser, or the person chose it), the pages draw the Plotly map instead
(``map_plotly``); ``unavailable()`` says why.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import streamlit as st
from PIL import ImageColor
from streamlit.errors import StreamlitAPIException

from explorer import cache_budget, map_arrays, projection, store_dataset
from explorer.data import Dataset
from explorer.engine import DatasetCodes
from explorer.store_dataset import StoreDataset
from explorer.frontend import status as frontend_status
from explorer.ui import jobs, map_jobs, map_plotly

COMPONENT_NAME = "explorer.map"  # "<project>.<component>", as pyproject.toml declares it
FRONTEND = Path(__file__).resolve().parents[1] / "frontend"
MAP_DIR = FRONTEND / "map"
DATA_DIR = MAP_DIR / "data"  # what the page fetches: served by the component, written here
DATA_MAX_BYTES = 1 << 30  # map data kept on disk for the pages; the least recently used goes first
STORE = map_arrays.PackStore(DATA_DIR, DATA_MAX_BYTES)
IMAGE_JOBS = jobs.JobStore(workers=1)  # nearest-image blocks, never queued behind a t-SNE
DRAWER_KEY = "map_drawer"  # "webgl" or "plotly": the person's choice, in the link
STATUS_KEY = "map_webgl_status"  # what the page reported about itself (WebGL missing)
COLOURS = {"label": "label", "error": "reconstruction error", "kept": "neighbourhood kept"}


@functools.cache
def _component() -> Callable[..., Any]:
    return st.components.v2.component(COMPONENT_NAME, js="map/view.js", css="map/map.css")


def unavailable() -> str | None:
    """Why the WebGL map is not drawn here, or None when it is."""
    asked = st.query_params.get(DRAWER_KEY)
    if asked in ("plotly", "webgl"):  # kept for the session: the other pages' maps follow
        st.session_state[DRAWER_KEY] = asked
    if st.session_state.get(DRAWER_KEY) == "plotly":
        return "Plotly was chosen"
    reported = st.session_state.get(STATUS_KEY)
    if reported and not reported.get("webgl", True):
        return f"this browser has no WebGL ({reported.get('reason', 'none was offered')})"
    if not (MAP_DIR / "vendor" / "regl-scatterplot.js").is_file():
        return "the map's WebGL bundle is missing (npm run build in explorer/frontend/map)"
    try:
        _component()
    except StreamlitAPIException:
        return "the app is not installed as a package, so Streamlit does not serve the map's files (pip install -e .)"
    return None


# --- what the page gets --------------------------------------------------------------------------------
@dataclass
class Marks:
    upload: tuple[str, np.ndarray] | None = None  # the uploaded image's name and code
    path: np.ndarray | None = None  # (M, D) codes of an interpolation path
    stops: Sequence[int] = ()  # indices into path of its waypoints, in order
    pinned: dict | None = None  # the pinned point as the page sent it (projection, xy)


def colourings(dataset: Dataset, codes: DatasetCodes) -> list[map_arrays.Colouring]:
    """The colourings of the Plotly map, as arrays: label, reconstruction error, each factor;
    the neighbourhood kept depends on the projection and is sent with it."""
    found = []
    if dataset.y is not None and dataset.classes:
        values, names, palette = map_plotly.colour_groups(dataset, "label")
        found.append(map_arrays.Colouring("label", "label", values, list(names), _hex(palette)))
    found.append(map_arrays.Colouring("error", "reconstruction error", codes.errors, digits=4))
    found.append(map_arrays.Colouring("kept", COLOURS["kept"], np.full(len(codes.errors), np.nan),
                                      palette=map_arrays.KEPT, per_projection=True, digits=2, limits=(0, 1)))
    for name in dataset.factor_names:
        values, names, palette = map_plotly.colour_groups(dataset, name)
        found.append(map_arrays.Colouring(name, name, values, list(names), _hex(palette)))
    return found


def _hex(palette: Sequence[str]) -> list[str]:
    """Plotly's colours (#hex, rgb(), named) as #hex for the page."""
    out = []
    for colour in palette:
        if colour.startswith("rgb("):
            parts = [int(round(float(v))) for v in colour[4:-1].split(",")]
            out.append("#%02X%02X%02X" % tuple(parts))
        else:
            out.append("#%02X%02X%02X" % ImageColor.getrgb(colour)[:3])
    return out


@st.cache_resource(show_spinner=False, max_entries=8)
def _base(identity: str, _codes: np.ndarray, _colourings: tuple) -> tuple[str, list[dict]]:
    blob = map_arrays.base_pack(_codes, _colourings, len(_codes))
    return STORE.put(blob), map_arrays.unpack(blob)[1]["colourings"]


@st.cache_resource(show_spinner=False, max_entries=32)
def _projection(identity: str, method: str, digest: str, _result: projection.ProjectionResult) -> str:
    proj = _result.projection
    inverse = None
    if method == "pca":
        inverse = {"mean": proj.mean.tolist(), "components": proj.components.tolist()}
    return STORE.put(map_arrays.projection_pack(method, proj.label, _result.coords, inverse))


@st.cache_resource(show_spinner=False, max_entries=32)
def _kept(identity: str, method: str, digest: str, _kept: np.ndarray) -> str:
    colouring = map_arrays.Colouring("kept", COLOURS["kept"], _kept, palette=map_arrays.KEPT, per_projection=True,
                                     digits=2, limits=(0, 1))
    values, _ = colouring.encode()
    return STORE.put(map_arrays.pack({"colour_kept": values}, {"count": len(values)}))


def _cached(build: Callable[..., Any], *args) -> Any:
    """A cached builder's answer whose file is still on disk (the store may have evicted it)."""
    answer = build(*args)
    name = answer[0] if isinstance(answer, tuple) else answer
    if not STORE.has(name):
        build.clear()
        answer = build(*args)
    return answer


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:32]


def map_data(identity: str, codes: np.ndarray | None, colouring_list: Sequence[map_arrays.Colouring],
             maps: dict[str, projection.ProjectionResult], kept: dict[str, np.ndarray] | None = None) -> dict:
    """The arrays of a map, written for the page once per (model, dataset) and once per projection,
    and where the page finds them. Plain arrays in: ``identity`` names the (model, dataset) pair,
    ``codes`` (N, D) or None, ``maps`` every projection ready to draw, ``kept`` the neighbourhood
    kept per point for the projections where it was measured. A store of a million codes calls this
    with its own arrays."""
    base, described = _cached(_base, identity, codes, tuple(colouring_list))
    entries = []
    for method, result in maps.items():
        digest = _digest(result.coords)
        entry = {"key": method, "label": result.projection.label,
                 "url": f"data/{_cached(_projection, identity, method, digest, result)}"}
        if kept and method in kept:
            entry["colours"] = f"data/{_cached(_kept, identity, method, digest, kept[method])}"
        entries.append(entry)
    return {"signature": identity, "base": f"data/{base}", "projections": entries, "colourings": described}


def image_blocks(dataset: Dataset) -> dict:
    """Where the page finds the dataset's images for "the nearest real image": written in blocks
    by a background job (the page asks again for a block not written yet). A store's are its
    thumbnails, read a block at a time (its images are never rendered or decoded for this)."""
    if isinstance(dataset, StoreDataset):
        store = dataset.store
        shape = map_arrays.display_shape(store_dataset.thumbnail_shape(store))
        images = functools.partial(store_dataset.thumbnail_pixels, store)
    else:
        shape = map_arrays.display_shape(dataset.input_shape)

        def images(start: int, stop: int) -> np.ndarray:
            return dataset.x[start:stop]
    key = hashlib.sha256(json.dumps([dataset.identity, shape, map_arrays.IMAGE_BLOCK]).encode()).hexdigest()[:24]
    count = len(dataset.x)
    IMAGE_JOBS.submit(f"images-{key}", map_arrays.write_image_blocks, STORE, key, images, count)
    return {"url": f"data/{map_arrays.image_block_name(key, '{block}')}", "block": map_arrays.IMAGE_BLOCK,
            "shape": shape, "count": count}


def place_marks(marks: Marks, maps: dict[str, projection.ProjectionResult]) -> dict:
    """The marks' positions on every ready projection (each placed by its own transform)."""
    out: dict[str, Any] = {}
    if marks.upload is not None:
        name, code = marks.upload
        out["upload"] = {"name": name, "xy": _placed(maps, code[None], single=True)}
    if marks.path is not None and len(marks.path):
        out["path"] = {"xy": _placed(maps, marks.path), "stops": [int(s) for s in marks.stops]}
    if marks.pinned:
        out["pinned"] = marks.pinned
    return out


def _placed(maps: dict[str, projection.ProjectionResult], codes: np.ndarray, single: bool = False) -> dict:
    placed = {}
    for method, result in maps.items():
        try:
            xy = result.projection.transform(codes)
        except ValueError:  # a code this map cannot place: left off that map only
            continue
        placed[method] = xy[0].tolist() if single else xy.tolist()
    return placed


def decoder_spec(engine) -> dict | None:
    """The active model's decoder for the page (explorer.frontend's: exported once, cached by
    content hash), or None where the page cannot decode (no export, WebAssembly off): then the
    map still draws, and a click decodes the pinned code on the server."""
    choice = frontend_status.decoding(engine)
    return choice.offer.spec() if choice.in_page and choice.offer is not None else None


def draw(engine, dataset: Dataset, codes: DatasetCodes, state, *, key: str, colour: str, marks: Marks,
         selection: Sequence[int] = (), params: dict[str, dict] | None = None, kept: np.ndarray | None = None,
         height: int = 620, **callbacks: Callable) -> None:
    """A page's WebGL map: every projection ready to draw (the one in ``state`` shown first), the
    dataset's colourings, ``marks`` placed on each projection, ``selection`` dimming the rest;
    ``kept`` the neighbourhood kept on the shown projection, where measured; ``callbacks`` as ``show``'s."""
    maps = map_jobs.ready_maps(engine, dataset, codes, params)
    shown = state.projection.method
    maps.setdefault(shown, projection.ProjectionResult(state.coords, state.projection, False, 0.0))
    identity = f"{engine.source.content_hash}:{dataset.identity}"
    try:
        data = map_data(identity, codes.codes, colourings(dataset, codes), maps,
                        {shown: kept} if kept is not None else None)
    except cache_budget.CacheFull as e:  # the page's copy would not fit the disk budget: the server draws it
        st.warning(f"The map's data for the page: {e}. Drawn with Plotly instead.")
        st.plotly_chart(map_plotly.scatter(state, dataset, codes, colour, kept=kept), key=key)
        return None
    return show({
        **data, "count": len(codes.codes), "projection": shown, "colour": colour, "marks": place_marks(marks, maps),
        "selection": {"mask": map_arrays.mask_from_indices(selection, len(codes.codes))} if len(selection) else None,
        "decoder": decoder_spec(engine), "images": image_blocks(dataset), "height": height,
    }, key=f"{key}-{identity}", **callbacks)


# --- mounting ----------------------------------------------------------------------------------------------
def show(data: dict, key: str, on_view: Callable[[dict], None] | None = None,
         on_selection: Callable[[np.ndarray], None] | None = None, on_pin: Callable[[dict], None] | None = None) -> None:
    """Mount the map with ``data`` (``map_data`` plus count, projection, colour, marks, selection,
    decoder, images, height). What the page sends back reaches the callbacks before the next run
    of the script, so the run that follows a selection already draws with it: ``on_view`` gets
    {projection, colour}, ``on_selection`` the selected indices, ``on_pin`` {projection, xy,
    nearest, code, away}."""
    count = int(data["count"])

    def state(name: str) -> Any:
        return _value(st.session_state.get(key), name)

    def keep_status() -> None:
        if state("status"):
            st.session_state[STATUS_KEY] = state("status")

    def keep_view() -> None:
        if state("view") and on_view is not None:
            on_view(state("view"))

    def keep_selection() -> None:
        selection = state("selection")
        if not selection or on_selection is None:
            return
        try:
            on_selection(map_arrays.indices_from_mask(selection.get("mask", ""), count))
        except ValueError as e:  # a page of another map, or bytes that are not a selection
            st.session_state[f"{key}-error"] = f"The selection could not be read: {e}"

    def keep_pin() -> None:
        pin = state("pin")
        if pin and pin.get("code") is not None and on_pin is not None:
            on_pin(pin)

    data = {**data, "request": hashlib.sha256(json.dumps([data["signature"], data.get("projection"),
                                                          data.get("colour")]).encode()).hexdigest()[:16]}
    _component()(key=key, data=data, on_view_change=keep_view, on_selection_change=keep_selection,
                 on_pin_change=keep_pin, on_status_change=keep_status)
    error = st.session_state.pop(f"{key}-error", None)
    if error:
        st.warning(error)


def _value(result: Any, name: str) -> Any:
    if result is None:
        return None
    try:
        return result[name]
    except (KeyError, TypeError):
        return getattr(result, name, None)
