"""The active model's decoder, offered to the page: exported to ONNX once per model (the
engine's own export, ``sources.export.cached_onnx``, or an ONNX model's own ``decoder.onnx``),
copied into ``explorer/frontend/decoders/<sha256>.onnx`` where Streamlit serves the component's
files, and described for the page (``PageDecoder.spec``). The name is the SHA-256 of the bytes,
so a page that kept a copy (the Cache API) never needs it again and never uses a stale one.

A model whose decoder cannot run in the page gets a ``NotInPage`` with the reason, which the
model card shows; its pages decode on the server.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import cache_budget
from ..cache import atomic_write
from ..safe_read import CheckpointError
from ..model_contract import Model
from ..sources.export import cached_onnx
from ..sources.onnx import DECODER_FILE
from . import FRONTEND_DIR

SERVED_DIR = FRONTEND_DIR / "decoders"  # served at /_stcore/bidi-components/explorer.live/decoders/
MAX_PAGE_DECODER_BYTES = 64 * 1024 * 1024  # sent to every browser once: larger ones decode on the server
KEEP_SERVED = 32  # decoder files kept in SERVED_DIR (the least recently offered go first)


@dataclass(frozen=True)
class PageDecoder:
    """A decoder the page can fetch and run."""

    sha256: str  # of the file's bytes: its name, and the page's cache key
    size: int  # bytes, sent once per browser
    latent_dim: int
    shape: tuple[int, int, int]  # [C, H, W] of one decoded image
    layout: str  # "NCHW" or "NHWC": the decoder's output, as the model has it
    pixel_range: tuple[float, float]  # the decoder's output range, brought to [0, 1] in the page

    @property
    def url(self) -> str:
        """Relative to the component's folder (the page resolves it against main.js's URL, so a
        server.baseUrlPath is kept)."""
        return f"{SERVED_DIR.name}/{self.sha256}.onnx"

    def spec(self) -> dict:
        """What the page's decoder.js is told."""
        return {"hash": self.sha256, "url": self.url, "bytes": self.size, "latent_dim": self.latent_dim,
                "shape": list(self.shape), "layout": self.layout, "pixel_range": list(self.pixel_range)}


@dataclass(frozen=True)
class NotInPage:
    reason: str  # a sentence fragment for the card: "decodes on the server: <reason>"


_offers: dict[str, PageDecoder | NotInPage] = {}  # model content hash -> offer (at most MAX_OFFERS)
MAX_OFFERS = 256
_lock = threading.Lock()


def page_decoder(model: Model) -> PageDecoder | NotInPage:
    """The offer for ``model``, worked out once per model and process; the served file is made
    again if it went (pruned by another server sharing the folder)."""
    offer = _offers.get(model.content_hash)
    if offer is None:
        with _lock:
            offer = _offers.get(model.content_hash) or _make_offer(model)
            _offers[model.content_hash] = offer
            while len(_offers) > MAX_OFFERS:  # uploads: each a new model
                del _offers[next(iter(_offers))]
    if isinstance(offer, PageDecoder) and not (SERVED_DIR / f"{offer.sha256}.onnx").is_file():
        with _lock:
            offer = _make_offer(model)
            _offers[model.content_hash] = offer
    return offer


def _make_offer(model: Model) -> PageDecoder | NotInPage:
    if model.kind == "onnx":  # its own graph, in its own layout and range
        file, layout, pixel_range = Path(model.path) / DECODER_FILE, model.layout, tuple(model.pixel_range)
    else:  # our export speaks the display contract
        try:
            file = cached_onnx(model) / DECODER_FILE
        except CheckpointError as e:
            return NotInPage(f"the model could not be exported to ONNX ({str(e)[:200]})")
        layout, pixel_range = "NCHW", (0.0, 1.0)
    try:
        size = file.stat().st_size
        if size > MAX_PAGE_DECODER_BYTES:
            return NotInPage(f"its decoder is {size / 2**20:.0f} MB, more than the "
                             f"{MAX_PAGE_DECODER_BYTES // 2**20} MB sent to a page")
        raw = file.read_bytes()
    except OSError as e:
        return NotInPage(f"its decoder could not be read ({e.strerror or type(e).__name__})")
    problem = _page_problem(raw)
    if problem:
        return NotInPage(problem)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        _serve(digest, raw)
    except OSError as e:
        return NotInPage(f"the app cannot write the decoder where the page fetches it ({e.strerror or type(e).__name__})")
    except cache_budget.CacheFull as e:
        return NotInPage(str(e))
    return PageDecoder(digest, size, model.latent_dim, tuple(model.input_shape), layout,
                       (float(pixel_range[0]), float(pixel_range[1])))


def _page_problem(raw: bytes) -> str | None:
    """Why onnxruntime-web in the page cannot take this graph as it is, or None."""
    import onnx

    proto = onnx.ModelProto()
    proto.ParseFromString(raw)  # the model's source has read and checked this graph already
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        return "its decoder keeps its weights in separate files, which are not sent to the page"
    initializers = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    if len(inputs) != 1 or inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        return "its decoder does not take one float32 input"
    return None


def _serve(digest: str, raw: bytes) -> None:
    SERVED_DIR.mkdir(exist_ok=True)
    target = SERVED_DIR / f"{digest}.onnx"
    if target.is_file():
        os.utime(target)  # recently offered: the last to be pruned
    else:
        cache_budget.make_room(len(raw), keep=(target,), what="the page's decoder")
        atomic_write(target, raw)
    _prune()


def _prune() -> None:
    """At most KEEP_SERVED files. One pruned while a page still wanted it is offered again on
    the next run (page_decoder checks), so the folder stays bounded whatever the uploads."""
    dated = []
    for file in SERVED_DIR.glob("*.onnx"):
        try:
            dated.append((file.stat().st_mtime, file))
        except OSError:
            continue  # pruned by another server meanwhile
    for _, old in sorted(dated)[:-KEEP_SERVED]:
        old.unlink(missing_ok=True)
