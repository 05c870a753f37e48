"""What a dataset choice means, parsed once.

A ``DatasetSpec`` says which dataset (a name, or the path of a folder, an .npz or a store of
encoded images), the shape its files are brought to and how they are preprocessed. ``data.load_dataset`` reads one, and the
app keeps a loaded dataset under it. ``preprocessing_for`` is the one rule for how a folder is
read for a model, the same in the sidebar, on the Upload page and in the command line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import folders, shapes
from .store_format import BLOCKS, MANIFEST

BUILTIN = ("mnist", "digits")
GENERATED = ("shapes",)  # made by code in the package; "shapes:<size>" or "shapes:full" for more
DIGIT_DATASETS = ("mnist", "digits")  # a model trained on one of these sees folders through digit preprocessing
PREPROCESSING = ("digit", "plain")
# Without a model, a folder is read as for the app's default model (1 channel, 28x28, trained on MNIST).
NO_MODEL_SHAPE = (1, 28, 28)
NO_MODEL_TRAINED_ON = "mnist"


class DatasetError(ValueError):
    """A dataset that cannot be read; the message says why."""


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset choice, parsed: what ``load_dataset`` reads and what a loaded dataset is kept under."""

    name: str  # "mnist", "digits", "shapes[:size]", or the path of a folder, an .npz or a store
    kind: str  # "builtin", "generated", "npz", "folder" or "store" (a folder holding a store's manifest)
    channels: int | None = None  # files are brought to (channels, size, size); None: an .npz as stored
    size: int | None = None
    preprocessing: str | None = None  # how a folder's files become images: "digit" or "plain"

    @property
    def is_named(self) -> bool:
        return self.kind in ("builtin", "generated")

    def signature(self) -> str:
        """Changes whenever the data behind the spec changes: with the spec, the key of a loaded
        dataset kept in memory. A folder's covers every image in every subfolder (name, size,
        mtime); a store's its manifest and block files; a file's its size and mtime; a built-in or
        generated name is itself."""
        return source_signature(self.name)


def default_preprocessing(input_shape: list[int] | tuple[int, ...], trained_on: str | None = NO_MODEL_TRAINED_ON,
                          recorded: str | None = None) -> str:
    """How to read a folder for a model: as its training data was read where that was recorded,
    else "digit" (grayscale, inverted, cropped and centred like MNIST) only for a 1-channel model
    trained on digits, else "plain" (colour kept, shorter side resized, centre crop)."""
    if recorded in PREPROCESSING:
        return recorded
    return "digit" if input_shape[0] == 1 and trained_on in DIGIT_DATASETS else "plain"


def preprocessing_for(model: Any) -> str:
    """``default_preprocessing`` for a model of the contract (``model_contract.Model``)."""
    return default_preprocessing(model.input_shape, model.trained_on, model.trained_preprocessing)


def is_named(name: str) -> bool:
    """A dataset given by name (bundled, or generated like "shapes:20000"), not by a path."""
    return name in BUILTIN or name.partition(":")[0] in GENERATED


def parse_shapes_name(name: str) -> int:
    """The number of images a ``shapes`` name asks for: "shapes", "shapes:<size>", "shapes:full"."""
    _, _, size = name.partition(":")
    if not size:
        return shapes.DEFAULT_SIZE
    if size == "full":
        return shapes.GRID_SIZE
    # the length first: int() of thousands of digits is slow, then refused with Python's own words
    if not size.isdigit() or len(size) > len(str(shapes.GRID_SIZE)) or not 1 <= int(size) <= shapes.GRID_SIZE:
        raise DatasetError(f"{name[:40]!r}: the size after 'shapes:' must be a whole number from 1 to the full grid "
                           f"of {shapes.GRID_SIZE:,} (or 'full')")
    return int(size)


def parse(name: str, size: int | None = None, channels: int | None = None, preprocessing: str | None = None,
          trained_on: str | None = NO_MODEL_TRAINED_ON, recorded: str | None = None) -> DatasetSpec:
    """A dataset by name (mnist, digits, shapes[:size]) or path (folder, .npz), read at ``size``
    and ``channels``: a folder's images always (default 28 and 1), an .npz's when both are given
    (else as stored); a named dataset is what it is. A folder's ``preprocessing`` defaults to
    ``default_preprocessing`` for a model trained on ``trained_on`` (``recorded``: what its
    training recorded)."""
    if name in BUILTIN:
        return DatasetSpec(name, "builtin")
    if name.partition(":")[0] in GENERATED:
        parse_shapes_name(name)
        return DatasetSpec(name, "generated")
    path = Path(name)
    if path.suffix.lower() == ".npz":
        fitted = bool(size and channels)
        return DatasetSpec(name, "npz", channels if fitted else None, size if fitted else None)
    if is_store(path):
        return DatasetSpec(name, "store")
    if path.is_dir():
        channels, size = channels or NO_MODEL_SHAPE[0], size or NO_MODEL_SHAPE[1]
        return DatasetSpec(name, "folder", channels, size,
                           preprocessing or default_preprocessing([channels, size, size], trained_on, recorded))
    raise DatasetError(f"unknown dataset {name!r}: use 'mnist', 'digits', 'shapes', a folder of images, "
                       f"an .npz file or a store (python -m explorer encode ... --out STORE)")


def for_model(name: str, model: Any, preprocessing: str | None = None) -> DatasetSpec:
    """The dataset ``name`` read for ``model`` (``model_contract.Model``): files at its input
    shape, a folder by ``preprocessing`` or else by the model's rule (``preprocessing_for``)."""
    channels, size, _ = model.input_shape
    return parse(name, size, channels, preprocessing, model.trained_on, model.trained_preprocessing)


def is_store(path: Path) -> bool:
    """A folder holding a store's manifest (explorer/store_format.py), not a folder of images."""
    return path.is_dir() and (path / MANIFEST).is_file()


def source_signature(name_or_path: str) -> str:
    """``DatasetSpec.signature`` of a name or path."""
    if is_named(name_or_path):
        return name_or_path
    path = Path(name_or_path)
    if is_store(path):  # a resumed encode adds blocks, a rerun rewrites them: each changes this
        files = [path / MANIFEST, *sorted((path / BLOCKS).glob("*.parquet"))]
        return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    if path.is_dir():
        return folders.listing_digest(folders.list_images(path))
    stat = path.stat()
    return f"{stat.st_size}-{stat.st_mtime_ns}"
