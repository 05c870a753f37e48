"""Images out: float arrays in [0, 1] as uint8, crisp upscales, grids, side-by-side pairs and PNGs."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W), (1, H, W), (C, H, W) or (H, W, C) floats in [0, 1] -> (H, W[, 3]) uint8."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
        a = np.moveaxis(a, 0, 2)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    return (np.nan_to_num(a).clip(0, 1) * 255 + 0.5).astype(np.uint8)


def upscale(image: np.ndarray, min_side: int = 112) -> np.ndarray:
    """Nearest-neighbour upscale by a whole factor so small images stay crisp."""
    a = to_uint8(image)
    factor = max(1, int(np.ceil(min_side / min(a.shape[:2]))))
    return a.repeat(factor, axis=0).repeat(factor, axis=1)


def grid(images: np.ndarray, ncols: int, pad: int = 1, pad_value: float = 0.5) -> np.ndarray:
    """Tile (N, C, H, W) or (N, H, W) images into one (rows*H, cols*W[, 3]) float picture."""
    a = np.asarray(images, dtype=np.float32)
    if a.ndim == 3:
        a = a[:, None]
    n, c, h, w = a.shape
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    out = np.full((c, nrows * (h + pad) + pad, ncols * (w + pad) + pad), pad_value, dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[:, y: y + h, x: x + w] = a[i]
    return out[0] if c == 1 else np.moveaxis(out, 0, 2)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 1) -> np.ndarray:
    """(N, C, H, W) pairs joined into (N, C, H, 2W + gap) with a grey gap: original | reconstruction."""
    sep = np.full((*left.shape[:-1], gap), 0.5, dtype=np.float32)
    return np.concatenate([left, sep, right], axis=-1)


def square(image: np.ndarray, fill: float = 0.5) -> np.ndarray:
    """A (H, W) or (H, W, 3) picture padded to a square with ``fill``, so pictures of any
    aspect line up as equal tiles."""
    h, w = image.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    pad = [(top, side - h - top), (left, side - w - left)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, constant_values=fill)


def png_bytes(image: np.ndarray, min_side: int = 0) -> bytes:
    a = upscale(image, min_side) if min_side else to_uint8(image)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()
