"""The map's data for the page, as binary arrays: packed once per (model, dataset) and once per
projection, written to files named by the SHA-256 of their bytes in the map component's data
folder, and fetched from there by the page (explorer/frontend/map/pack.js reads the format).

What goes in is plain arrays (positions per projection, codes, errors, labels and factors), so a
dataset never has to be whole in memory: the nearest-image blocks are read through a function
that returns a block of images at a time (a store of a million codes can hand over its own).

Pack format: 8 bytes of magic, a little-endian uint32 header length, a UTF-8 JSON header
(``{"arrays": {name: {dtype, shape, offset}}, "meta": {...}}``), then each array's bytes,
starting on an 8-byte boundary.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from base64 import b64decode, b64encode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import cache_budget

MAGIC = b"LXMAP1\0\0"
ALIGN = 8
CODES_FLOAT32_MAX = 4_000_000  # code values sent as float32 up to this many (16 MB); float16 beyond
SCALE_STEPS = 64  # a continuous colouring is binned into this many colours
MISSING_COLOUR = "#cfcfcf"  # points whose value is not measured (NaN)
IMAGE_BLOCK = 1024  # images per nearest-image block
IMAGE_SIDE_MAX = 64  # nearest images larger than this are shown downsampled to it
DTYPES = {"float32", "float64", "uint8", "uint16", "uint32", "int32", "float16"}

# Palettes, as the Plotly map draws them (explorer/ui/map_plotly.py): D3's ten, Alphabet beyond.
D3 = ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF"]


# --- the format ----------------------------------------------------------------------------------
def pack(arrays: dict[str, np.ndarray], meta: dict | None = None) -> bytes:
    """Arrays (C order, little-endian) and a JSON-able ``meta`` as one blob."""
    chunks, relative = {}, {}
    offset = 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        if array.dtype.name not in DTYPES:
            raise ValueError(f"{name}: dtype {array.dtype} cannot be packed")
        raw = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        chunks[name] = raw + b"\0" * (-len(raw) % ALIGN)
        relative[name] = (array.dtype.name, list(array.shape), offset)
        offset += len(chunks[name])
    lead = len(MAGIC) + 4
    start = 0
    while True:  # the header holds the offsets, which depend on its own length: settle both
        specs = {name: {"dtype": dtype, "shape": shape, "offset": start + at}
                 for name, (dtype, shape, at) in relative.items()}
        header = json.dumps({"arrays": specs, "meta": meta or {}}, separators=(",", ":")).encode()
        needed = lead + len(header)
        needed += -needed % ALIGN
        if needed == start:
            break
        start = needed
    header += b" " * (start - lead - len(header))
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(chunks.values())


def unpack(blob: bytes) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and meta of a packed blob (the page's reading, in Python, for tests)."""
    if blob[:len(MAGIC)] != MAGIC:
        raise ValueError("not a map data file")
    (length,) = struct.unpack_from("<I", blob, len(MAGIC))
    header = json.loads(blob[len(MAGIC) + 4:len(MAGIC) + 4 + length])
    arrays = {}
    for name, spec in header["arrays"].items():
        dtype = np.dtype(spec["dtype"]).newbyteorder("<")
        count = int(np.prod(spec["shape"], dtype=np.int64))
        arrays[name] = np.frombuffer(blob, dtype, count, spec["offset"]).reshape(spec["shape"])
    return arrays, header["meta"]


# --- colourings ----------------------------------------------------------------------------------
@dataclass
class Colouring:
    name: str  # its key, also what the link holds: "label", "error", "kept", a factor's name
    title: str  # how the page names it
    values: np.ndarray  # (N,) each point's category (integers) or value (floats; NaN: not measured)
    names: list[str] | None = None  # the categories' names; None for a continuous value
    palette: list[str] = field(default_factory=list)  # the categories' colours, or the scale's low-to-high stops
    per_projection: bool = False  # depends on the map (the neighbourhood kept): sent with each projection
    digits: int = 3  # decimals on the colour bar's ticks
    limits: tuple[float, float] | None = None  # a continuous value's fixed range; None: its own min and max

    def encode(self) -> tuple[np.ndarray, dict]:
        """(a category per point as uint8 or uint16, the page's description of the colouring)."""
        array = f"colour_{self.name}"
        if self.names is not None:
            values = np.asarray(self.values)
            dtype = np.uint8 if len(self.names) <= 256 else np.uint16
            palette = self.palette or D3
            colours = [palette[k % len(palette)] for k in range(len(self.names))]
            return values.astype(dtype), {"name": self.name, "title": self.title, "kind": "category",
                                          "names": list(self.names), "palette": colours, "array": array,
                                          "per_projection": self.per_projection}
        values = np.asarray(self.values, dtype=np.float64)
        finite = np.isfinite(values)
        if self.limits is not None:
            low, high = map(float, self.limits)
        else:
            low, high = (float(values[finite].min()), float(values[finite].max())) if finite.any() else (0.0, 1.0)
        steps = scale_steps(self.palette or VIRIDIS, SCALE_STEPS)
        span = high - low if high > low else 1.0
        bins = np.clip(np.floor((np.where(finite, values, low) - low) / span * SCALE_STEPS), 0, SCALE_STEPS - 1)
        missing = self.per_projection or not finite.all()  # a per-projection colouring: the same steps measured or not
        codes = (bins + missing).astype(np.uint8)
        if missing:
            codes[~finite] = 0
        return codes, {"name": self.name, "title": self.title, "kind": "scale", "range": [low, high],
                       "palette": ([MISSING_COLOUR] if missing else []) + steps, "array": array,
                       "missing": MISSING_COLOUR if missing else None, "per_projection": self.per_projection,
                       "format": self.digits}


VIRIDIS = ["#440154", "#482878", "#3E4989", "#31688E", "#26828E", "#1F9E89", "#35B779", "#6DCD59", "#B4DE2C",
           "#FDE725"]
KEPT = ["#D7191C", "#FDAE61", "#1A9641"]  # share of a point's neighbours kept: none, half, all (as the Plotly map)


def scale_steps(stops: Sequence[str], count: int) -> list[str]:
    """``count`` colours evenly along the piecewise-linear scale through ``stops``."""
    rgb = np.array([[int(s[i:i + 2], 16) for i in (1, 3, 5)] for s in stops], dtype=np.float64)
    where = np.linspace(0, len(stops) - 1, count)
    low = np.floor(where).astype(int).clip(0, len(stops) - 2)
    t = (where - low)[:, None]
    mixed = rgb[low] * (1 - t) + rgb[low + 1] * t
    return ["#%02X%02X%02X" % tuple(int(round(c)) for c in colour) for colour in mixed]


# --- selections ----------------------------------------------------------------------------------
def indices_from_mask(text: str, count: int) -> np.ndarray:
    """The page's selection (base64 of a bitmask, bit i of byte i >> 3 for point i) as indices;
    an empty text is an empty selection."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    raw = np.frombuffer(b64decode(text or "", validate=True), dtype=np.uint8)
    if len(raw) != (count + 7) // 8:
        raise ValueError(f"a selection of {len(raw)} bytes does not fit a map of {count:,} points")
    return np.flatnonzero(np.unpackbits(raw, bitorder="little")[:count])


def mask_from_indices(indices, count: int) -> str:
    """Indices as the page's bitmask, base64."""
    bits = np.zeros(count, dtype=bool)
    bits[np.asarray(indices, dtype=np.int64)] = True
    return b64encode(np.packbits(bits, bitorder="little").tobytes()).decode()


def indices_to_ranges(indices) -> str:
    """Sorted indices as "0-99,120,130-131": how a selection is written into the link."""
    values = np.unique(np.asarray(indices, dtype=np.int64))
    if not len(values):
        return ""
    breaks = np.flatnonzero(np.diff(values) != 1)
    starts = np.concatenate([[values[0]], values[breaks + 1]])
    ends = np.concatenate([values[breaks], [values[-1]]])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts, ends))


def ranges_to_indices(text: str, count: int) -> np.ndarray:
    """The inverse of ``indices_to_ranges``; a clear ValueError for anything else or out of range."""
    parts = [part.strip() for part in (text or "").split(",") if part.strip()]
    chunks = []
    for part in parts:
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"{part!r} is not an index or a range like 10-20")
        a, b = int(low), int(high or low)
        if a > b or b >= count:
            raise ValueError(f"{part} is outside 0-{count - 1}")
        chunks.append(np.arange(a, b + 1))
    return np.unique(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.int64)


# --- what the page gets --------------------------------------------------------------------------
def base_pack(codes: np.ndarray | None, colourings: Sequence[Colouring], count: int) -> bytes:
    """The arrays every projection of one (model, dataset) shares: codes (float16 past
    CODES_FLOAT32_MAX values), and each colouring that does not depend on the map."""
    arrays: dict[str, np.ndarray] = {}
    if codes is not None:
        codes = np.asarray(codes)
        if len(codes) != count:
            raise ValueError(f"{len(codes)} codes for a map of {count} points")
        arrays["codes"] = codes.astype(np.float32 if codes.size <= CODES_FLOAT32_MAX else np.float16)
    described = []
    for colouring in colourings:
        if colouring.per_projection:
            described.append(colouring.encode()[1])
            continue
        values, meta = colouring.encode()
        if len(values) != count:
            raise ValueError(f"colouring {colouring.name!r} has {len(values)} values for {count} points")
        arrays[meta["array"]] = values
        described.append(meta)
    return pack(arrays, {"count": count, "colourings": described})


def projection_pack(method: str, label: str, positions: np.ndarray, inverse: dict | None = None,
                    colourings: Sequence[Colouring] = ()) -> bytes:
    """One projection: every point's position (float32), what inverts it (PCA's mean and axes),
    and the colourings that depend on it."""
    positions = np.asarray(positions, dtype=np.float32)
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise ValueError(f"positions must be (N, 2), got {positions.shape}")
    if not np.isfinite(positions).all():
        raise ValueError("positions must be finite")
    arrays = {"positions": positions}
    for colouring in colourings:
        values, meta = colouring.encode()
        arrays[meta["array"]] = values
    return pack(arrays, {"method": method, "label": label, "count": len(positions), "inverse": inverse})


def image_block(images: np.ndarray) -> bytes:
    """A block of nearest images, (n, H, W, C) uint8, deflate-compressed (DecompressionStream reads it)."""
    return zlib.compress(np.ascontiguousarray(images, dtype=np.uint8).tobytes(), 1)


def display_images(batch: np.ndarray) -> np.ndarray:
    """(n, C, H, W) floats in [0, 1] -> (n, H', W', C) uint8, at most IMAGE_SIDE_MAX on a side
    (a whole-number stride, so pixels stay pixels)."""
    a = np.asarray(batch)
    step = max(1, int(np.ceil(max(a.shape[2], a.shape[3]) / IMAGE_SIDE_MAX)))
    a = a[:, :, ::step, ::step]
    if a.dtype != np.uint8:
        a = (np.nan_to_num(a.astype(np.float32)).clip(0, 1) * 255 + 0.5).astype(np.uint8)
    return np.moveaxis(a, 1, 3)


# --- the files -----------------------------------------------------------------------------------
class PackStore:
    """The folder the page fetches map data from (the map component serves it), bounded: the
    files used least recently go first once it holds more than ``max_bytes``."""

    def __init__(self, folder: Path, max_bytes: int):
        self.folder, self.max_bytes = Path(folder), max_bytes

    def put(self, blob: bytes) -> str:
        """Write ``blob`` under the hash of its bytes (once) and return its name."""
        return self.put_named(f"{hashlib.sha256(blob).hexdigest()}.bin", blob)

    def put_named(self, name: str, blob: bytes) -> str:
        path = self.folder / name
        if path.exists():
            path.touch()
            return name
        self.folder.mkdir(parents=True, exist_ok=True)
        cache_budget.make_room(len(blob), keep=(path,), what="the map's data")  # the app's one disk budget
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
        self.trim()
        return name

    def has(self, name: str) -> bool:
        path = self.folder / name
        if path.exists():
            path.touch()  # used: kept longer
            return True
        return False

    def trim(self) -> None:
        files = [p for p in self.folder.glob("*.bin") if p.is_file()]
        sizes = {p: p.stat() for p in files}
        total = sum(s.st_size for s in sizes.values())
        for path in sorted(files, key=lambda p: sizes[p].st_mtime):
            if total <= self.max_bytes:
                break
            total -= sizes[path].st_size
            path.unlink(missing_ok=True)


def write_image_blocks(store: PackStore, key: str, images: Callable[[int, int], np.ndarray], count: int,
                       progress: Callable[[float], None] | None = None) -> None:
    """Every block of nearest images, named ``img-<key>-<block>.bin``; ``images(start, stop)`` gives
    (n, C, H, W) images in [0, 1] (or uint8). Blocks already written are skipped."""
    blocks = (count + IMAGE_BLOCK - 1) // IMAGE_BLOCK
    for number in range(blocks):
        name = image_block_name(key, number)
        if not store.has(name):
            start = number * IMAGE_BLOCK
            store.put_named(name, image_block(display_images(images(start, min(count, start + IMAGE_BLOCK)))))
        if progress is not None:
            progress((number + 1) / blocks)


def image_block_name(key: str, number: int | str) -> str:
    return f"img-{key}-{number}.bin"


def display_shape(input_shape: Sequence[int]) -> list[int]:
    """(H, W, C) of the nearest images for a (C, H, W) dataset."""
    c, h, w = input_shape
    step = max(1, int(np.ceil(max(h, w) / IMAGE_SIDE_MAX)))
    return [len(range(0, h, step)), len(range(0, w, step)), c]
