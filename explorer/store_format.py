"""The format of a store of encoded images: its folder layout, manifest and columns, and the
primitives that write and check block files (explorer/store.py opens a store as a dataset).

Layout of a store folder::

    manifest.json                  schema version, model (content hash), dataset, block size
    blocks/block-000000.parquet    rows 0 .. block_size - 1, and so on; one file per block

Columns of every block (one row per image):

    index       int64                      row in the dataset (and in the store)
    code        fixed_size_list<float32>   the deterministic code (a VAE's mean)
    logvar      fixed_size_list<float32>   a VAE's log-variances (only for variational models)
    error       float32                    per-image reconstruction MSE
    label       int64                      class index into manifest dataset.classes (labelled datasets)
    factor_<f>  int64                      one column per ground-truth factor (shapes)
    file        string                     the image's path under dataset.root (folders)
    thumbnail   binary                     a PNG of at most THUMBNAIL_SIDE px a side

An image is found again by reference: a generated image by its factors (or ``index``), a
folder's by ``file``, a bundled or .npz dataset's by ``index``. A block file is written to a
temporary name and renamed, so a file that exists is complete. pandas or pyarrow read a store
without this package.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
BLOCKS = "blocks"
THUMBNAIL_SIDE = 32  # px: a gallery tile or a tooltip; about 200 bytes of PNG for a sprite
MAX_MANIFEST_BYTES = 64 * 2**20  # a folder's manifest carries no listing; anything larger is not ours


class StoreError(ValueError):
    """A store that cannot be written or read as asked; the message names the file and says why."""


@dataclass(frozen=True)
class DatasetRecord:
    """Where a store's images come from: enough to read any block again, or fetch any image."""

    spec: str  # as given: "shapes:1000000", "mnist", a folder's or an .npz's path
    kind: str  # "shapes" (generated), "folder" (files under root), "arrays" (mnist, digits, .npz)
    size: int  # images in the dataset (a folder: files listed, some may prove unreadable)
    input_shape: tuple[int, int, int]  # (C, H, W) the images are read at
    classes: tuple[str, ...] = ()  # label index -> name (empty: no labels)
    factor_names: tuple[str, ...] = ()  # ground-truth factors, in column order
    factor_values: tuple[tuple[str, ...], ...] = ()  # factor -> value index -> words
    grid: str | None = None  # shapes: "4px" or "1px"
    seed: int = 0  # shapes: the sample of the grid
    root: str | None = None  # folder: its absolute path
    preprocessing: str | None = None  # folder: "digit" or "plain"; npz: "plain" when resized
    listing_digest: str | None = None  # folder: changes when any file is added, removed or touched


@dataclass(frozen=True)
class ModelRecord:
    name: str  # display name
    path: str  # where it was opened from
    content_hash: str  # sha256 of weights and config (the source's own hash)
    latent_dim: int
    variational: bool


@dataclass(frozen=True)
class Manifest:
    model: ModelRecord
    dataset: DatasetRecord
    block_size: int  # rows per block (the last may hold fewer)
    thumbnail_side: int = THUMBNAIL_SIDE
    schema_version: int = SCHEMA_VERSION

    @property
    def num_blocks(self) -> int:
        return -(-self.dataset.size // self.block_size)

    def block_rows(self, block: int) -> range:
        """The dataset rows block ``block`` holds."""
        start = block * self.block_size
        return range(start, min(start + self.block_size, self.dataset.size))

    def as_json(self) -> str:
        return json.dumps({**asdict(self), "num_blocks": self.num_blocks}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        raw = json.loads(text)
        raw.pop("num_blocks", None)
        raw["model"] = ModelRecord(**raw["model"])
        data = raw["dataset"]
        data["input_shape"] = tuple(data["input_shape"])
        for key in ("classes", "factor_names"):
            data[key] = tuple(data[key])
        data["factor_values"] = tuple(tuple(v) for v in data["factor_values"])
        raw["dataset"] = DatasetRecord(**data)
        return cls(**raw)


# --- writing --------------------------------------------------------------------------------
def block_name(block: int) -> str:
    return f"block-{block:06d}.parquet"


def block_path(store: Path, block: int) -> Path:
    return Path(store) / BLOCKS / block_name(block)


def atomic_replace(path: Path, write) -> None:
    """``write(temporary path)``, then rename over ``path``: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def start_store(store: Path, manifest: Manifest) -> None:
    """Write the manifest of a new store, or check that an existing one is this same run (so it
    resumes); another model, dataset or block size is refused, not overwritten."""
    store = Path(store)
    path = store / MANIFEST
    if path.exists():
        existing = read_manifest(store)
        if existing != manifest:
            differs = [what for what in ("model", "dataset", "block_size", "schema_version")
                       if getattr(existing, what) != getattr(manifest, what)]
            raise StoreError(f"{store} already holds a store of another run (another {' and '.join(differs)}: "
                             f"{existing.model.name} on {existing.dataset.spec}, blocks of {existing.block_size:,}); "
                             f"choose a new --out, or delete that folder to start over")
        return
    if store.exists() and any(store.iterdir()):
        raise StoreError(f"{store} exists and is not a store (no {MANIFEST}); choose a new --out")
    store.mkdir(parents=True, exist_ok=True)
    atomic_replace(path, lambda tmp: Path(tmp).write_text(manifest.as_json()))


def block_table(manifest: Manifest, index: np.ndarray, codes: np.ndarray, logvar: np.ndarray | None,
                errors: np.ndarray, labels: np.ndarray | None, factors: np.ndarray | None,
                files: list[str] | None, thumbnails: list[bytes]):
    """One block's rows as an Arrow table in the store's schema."""
    import pyarrow as pa

    d = manifest.model.latent_dim

    def vectors(a: np.ndarray):
        return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(a, np.float32).ravel()), d)

    columns = {"index": pa.array(np.asarray(index, np.int64)), "code": vectors(codes)}
    if manifest.model.variational:
        columns["logvar"] = vectors(logvar)
    columns["error"] = pa.array(np.asarray(errors, np.float32))
    if manifest.dataset.classes:
        columns["label"] = pa.array(np.asarray(labels, np.int64))
    for k, name in enumerate(manifest.dataset.factor_names):
        columns[f"factor_{name}"] = pa.array(np.asarray(factors[:, k], np.int64))
    if manifest.dataset.kind == "folder":
        columns["file"] = pa.array(files, pa.string())
    columns["thumbnail"] = pa.array(thumbnails, pa.binary())
    return pa.table(columns)


def write_block(path: Path, table, skipped: list[str]) -> None:
    """The block's file, atomically; files of the block that could not be read are recorded in
    its metadata (``skipped``), so a reopened store still says which and why."""
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"latent_explorer_skipped": json.dumps(skipped).encode()})
    atomic_replace(Path(path), lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def block_is_complete(path: Path, expected_rows: int) -> bool:
    """A block file that exists, whose footer reads and which holds its rows (some of a folder's
    files may have been skipped, so at most the rows of the block), so a resumed run keeps it."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
        skipped = skipped_of(meta.metadata)
    except (OSError, ValueError):
        return False
    return meta.num_rows + len(skipped) == expected_rows


def skipped_of(metadata: dict | None) -> list[str]:
    raw = (metadata or {}).get(b"latent_explorer_skipped")
    return json.loads(raw) if raw else []


def thumbnails(images: np.ndarray, side: int = THUMBNAIL_SIDE) -> list[bytes]:
    """PNGs of at most ``side`` px a side of uint8 (N, C, H, W) images (about 0.15 ms each)."""
    from PIL import Image

    n, c, h, w = images.shape
    pixels = np.ascontiguousarray(np.moveaxis(images, 1, 3))  # one copy for the block, not one per image
    factor = -(-max(h, w) // side)
    out = []
    for image in pixels:
        pil = Image.fromarray(image[..., 0] if c == 1 else image, "L" if c == 1 else "RGB")
        if factor > 1:  # reduce() averages factor x factor boxes: what resize(BOX) does, faster
            pil = pil.reduce(factor)
        buffer = io.BytesIO()
        pil.save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


# --- reading --------------------------------------------------------------------------------
def read_manifest(store: Path) -> Manifest:
    path = Path(store) / MANIFEST
    if not Path(store).is_dir():
        raise StoreError(f"{store}: no such folder")
    if not path.is_file():
        raise StoreError(f"{store}: not a store (no {MANIFEST})")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise StoreError(f"{path}: too large for a store's manifest")
    try:
        manifest = Manifest.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise StoreError(f"{path}: not a readable store manifest ({type(e).__name__}: {str(e)[:200]})") from None
    if manifest.schema_version != SCHEMA_VERSION:
        raise StoreError(f"{path}: store schema version {manifest.schema_version}, this version reads {SCHEMA_VERSION}")
    return manifest
