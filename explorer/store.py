"""A store of encoded images opened as a dataset the app can browse: codes, errors, labels and
factors read from the block files (not recomputed), images fetched by reference on demand.

``open_store(path)`` reads every block's small columns (not the thumbnails) and names any block
that is missing or unreadable; ``Store.images(rows)`` renders, decodes or looks up the images of
a few rows. The format itself is explorer/store_format.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .blocks import fetch_images
from .store_format import BLOCKS, Manifest, StoreError, block_path, read_manifest, skipped_of

__all__ = ["Store", "StoreError", "open_store"]

READ_COLUMNS = ("index", "code", "logvar", "error", "label", "file")  # what opening reads (no thumbnails)


@dataclass
class Store:
    """An opened store: its codes and what travels with them, read once; images on demand.

    The app treats it as a dataset: ``codes``, ``logvar``, ``errors``, ``y`` and ``classes``,
    ``factors`` with ``factor_names`` / ``factor_values``, ``images(rows)`` (float32 [0, 1],
    fetched by reference) and ``thumbnails(rows)`` (PNG bytes). A row is a position in these
    arrays; ``index[row]`` is the image's index in the dataset.
    """

    path: Path
    manifest: Manifest
    index: np.ndarray  # (N,) int64, ascending
    codes: np.ndarray  # (N, D) float32
    logvar: np.ndarray | None  # (N, D) float32 for a variational model
    errors: np.ndarray  # (N,) float32 reconstruction MSE
    y: np.ndarray | None  # (N,) int64 labels, or None
    factors: np.ndarray | None  # (N, K) int64, or None
    files: np.ndarray | None  # (N,) relative paths (folders), or None
    problems: list[str] = field(default_factory=list)  # missing or unreadable blocks, by name
    skipped: list[str] = field(default_factory=list)  # the dataset's files that could not be read

    @property
    def name(self) -> str:
        return f"{self.manifest.dataset.spec} · {self.manifest.model.name} (store)"

    @property
    def classes(self) -> list[str]:
        return list(self.manifest.dataset.classes)

    @property
    def factor_names(self) -> list[str]:
        return list(self.manifest.dataset.factor_names)

    @property
    def factor_values(self) -> list[list[str]]:
        return [list(v) for v in self.manifest.dataset.factor_values]

    @property
    def input_shape(self) -> list[int]:
        return list(self.manifest.dataset.input_shape)

    @property
    def complete(self) -> bool:
        return not self.problems

    def __len__(self) -> int:
        return len(self.index)

    def dataset_codes(self):
        """The codes as ``InferenceEngine.encode_dataset`` gives them (a ``DatasetCodes``)."""
        from .engine import DatasetCodes

        return DatasetCodes(self.codes, self.logvar, self.errors)

    def factor_text(self, row: int) -> str:
        """One image's factors in words ("" without factors)."""
        if self.factors is None:
            return ""
        values = self.factor_values
        return " · ".join(f"{name} {values[k][v] if values else v}"
                          for k, (name, v) in enumerate(zip(self.factor_names, self.factors[row])))

    def images(self, rows) -> np.ndarray:
        """(n, C, H, W) float32 images in [0, 1] of the given rows, fetched by reference."""
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        return fetch_images(self, rows)

    def thumbnails(self, rows) -> list[bytes]:
        """The stored PNG thumbnails of the given rows (read from their blocks' files)."""
        import pyarrow.parquet as pq

        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        out: list[bytes | None] = [None] * len(rows)
        blocks = self.index[rows] // self.manifest.block_size
        for block in np.unique(blocks):
            path = block_path(self.path, int(block))
            try:
                table = pq.read_table(path, columns=["index", "thumbnail"])
            except (OSError, ValueError) as e:
                raise StoreError(f"{path.name}: its thumbnails cannot be read ({str(e)[:200]})") from None
            where = {int(i): k for k, i in enumerate(table.column("index").to_numpy())}
            pictures = table.column("thumbnail")
            for position in np.flatnonzero(blocks == block):
                out[position] = pictures[where[int(self.index[rows[position]])]].as_py()
        return out


def open_store(path: str | Path, strict: bool = False) -> Store:
    """Read a store's codes, errors, labels, factors and references (not its thumbnails).

    A block that is missing or cannot be read is named in ``problems`` and its rows left out;
    ``strict`` raises StoreError instead. A store with no readable block raises StoreError."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    manifest = read_manifest(path)
    d, variational = manifest.model.latent_dim, manifest.model.variational
    parts: list[dict[str, np.ndarray]] = []
    problems: list[str] = []
    skipped: list[str] = []
    for block in range(manifest.num_blocks):
        file = block_path(path, block)
        expected = manifest.block_rows(block)
        if not file.exists():
            problems.append(f"{BLOCKS}/{file.name} is missing (rows {expected.start:,}-{expected.stop - 1:,}): "
                            f"run the same encode command again to write it")
            continue
        try:
            parquet = pq.ParquetFile(file)
            columns = [c for c in READ_COLUMNS if c in parquet.schema_arrow.names]
            columns += [f"factor_{f}" for f in manifest.dataset.factor_names]
            table = parquet.read(columns=columns)
            part = block_arrays(table, manifest, d, variational)
            block_skipped = skipped_of(parquet.schema_arrow.metadata)
            index = part["index"]
            if len(index) + len(block_skipped) != len(expected) or (
                    len(index) and (index.min() < expected.start or index.max() >= expected.stop)):
                raise ValueError(f"holds {len(index):,} rows of indices outside or short of rows "
                                 f"{expected.start:,}-{expected.stop - 1:,}")
        except (OSError, ValueError, KeyError, pa.ArrowException) as e:
            problems.append(f"{BLOCKS}/{file.name} cannot be read ({type(e).__name__}: {str(e)[:200]}): "
                            f"delete it and run the same encode command again")
            continue
        parts.append(part)
        skipped += block_skipped
    if strict and problems:
        raise StoreError(f"{path}: " + "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else ""))
    if not parts:
        raise StoreError(f"{path}: no block could be read (" + "; ".join(problems[:3]) + ")")
    joined = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    factors = (np.stack([joined[f"factor_{f}"] for f in manifest.dataset.factor_names], 1)
               if manifest.dataset.factor_names else None)
    return Store(path, manifest, joined["index"], joined["code"], joined.get("logvar"), joined["error"],
                 joined.get("label"), factors, joined.get("file"), problems, skipped)


def block_arrays(table, manifest: Manifest, d: int, variational: bool) -> dict[str, np.ndarray]:
    """One block's columns as numpy arrays, each checked against the manifest."""
    def vectors(name: str) -> np.ndarray:
        column = table.column(name).combine_chunks()
        if getattr(column.type, "list_size", None) != d:
            raise ValueError(f"column {name!r} is {column.type}, expected {d} float32 values a row")
        return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, d)

    part = {"index": table.column("index").to_numpy().astype(np.int64, copy=False), "code": vectors("code"),
            "error": table.column("error").to_numpy().astype(np.float32, copy=False)}
    if variational:
        part["logvar"] = vectors("logvar")
    if manifest.dataset.classes:
        part["label"] = table.column("label").to_numpy().astype(np.int64, copy=False)
    for name in manifest.dataset.factor_names:
        part[f"factor_{name}"] = table.column(f"factor_{name}").to_numpy().astype(np.int64, copy=False)
    if manifest.dataset.kind == "folder":
        part["file"] = np.asarray(table.column("file").to_pylist(), dtype=object)
    return part
