"""Image files in, model inputs out: safe decoding of untrusted bytes, digit (MNIST-style)
preprocessing and plain preprocessing (colour kept, centre crop).

Uploads are untrusted: size and pixel count are checked before anything is decoded, only
raster formats PIL reads natively are accepted, and every failure is an ``ImageError`` whose
message a user can act on.
"""
from __future__ import annotations

import io
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # larger uploads are refused unread
MAX_PIXELS = 25_000_000  # refuse decompression bombs before decoding
WORK_SIDE = 1024  # larger images are reduced (box filter, in PIL) before any float array is made
ALLOWED_FORMATS = {"PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"}
MNIST_BOX = 20 / 28  # MNIST digits fit a 20x20 box inside the 28x28 frame
# One shape must stand out before an upload is taken for a digit (measured on generated photos of
# digits and of non-digits, benchmarks/bench_upload_ood.py). Lengths are shares of the picture's side.
SHAPE_SIDE = 256  # the shape is judged on a copy reduced to this side: fast, and scale-free enough
JOIN_GAP = 0.01  # ink pieces closer than this are one shape (a stroke broken by the pen or the light)
DOMINANT_SHARE = 0.5  # the largest shape holds at least half the ink (a digit may be broken in two)
SLIVER = 0.04  # a largest shape shorter than this (of the shorter side) is a sliver or a speck
EDGE_BAND, EDGE_SHARE = 0.03, 0.5  # a shape with over half its ink in the outer 3% runs along the edge
SOFT_SHARE = 0.45  # over this share of the ink in mid-tones: a shadow or a gradient, not pen strokes
CLUTTER_SHARE = 0.35  # over this share of the strong edges away from the shape: a scene, not a digit
SOLID = 0.22  # a shape whose thickest part is over this share of its length is a blob, not pen strokes


class ImageError(ValueError):
    """An upload that cannot be used; the message says why."""


class NotADigit(ImageError):
    """Digit preprocessing found no single digit in a picture it could read. ``reason`` says what
    was measured, in words a person can check by looking; the message adds what to do instead."""

    def __init__(self, reason: str, advice: str = "upload a picture of a single digit"):
        super().__init__(f"{reason}: {advice}")
        self.reason, self.advice = reason, advice


@dataclass
class Preprocessed:
    image: np.ndarray  # (H, W) or (C, H, W) float32 in [0, 1], ready for the model
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (caption, picture) per step
    notes: list[str] = field(default_factory=list)  # what was done and why


def reason(e: Exception) -> str:
    """``TypeName: first line of the message``, short enough for a user-facing message."""
    text = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def too_large(size: int) -> ImageError:
    return ImageError(f"the file is {size:,} bytes, over the {MAX_UPLOAD_BYTES // 2**20} MB upload limit")


def read_image_file(path: Path) -> bytes:
    """The bytes of an image file on disk, its size checked before it is read (a larger file is
    refused unread, and one that grows meanwhile is read no further than the limit)."""
    # O_NONBLOCK: a FIFO put in the file's place opens at once (and is refused) instead of blocking
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ImageError("not a regular file")
        if info.st_size > MAX_UPLOAD_BYTES:
            raise too_large(info.st_size)
        data = f.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise too_large(len(data))
    return data


def open_image(data: bytes, draft_side: int | None = None) -> Image.Image:
    """Decode untrusted bytes into a loaded, upright PIL image (first frame if animated).

    With ``draft_side``, a large JPEG is decoded at a reduced scale (1/2, 1/4 or 1/8) that still
    leaves both sides at least ``draft_side`` pixels, which saves time and memory on photos.
    """
    if not data:
        raise ImageError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise too_large(len(data))
    head = data[:512].lstrip().lower()
    if head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head:
        raise ImageError("SVG is a vector format and is not accepted: upload a PNG, JPEG, GIF, BMP, TIFF or WebP")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS))
        except UnidentifiedImageError:
            raise ImageError("not an image this app can read (accepted: PNG, JPEG, GIF, BMP, TIFF, WebP)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"the image claims too many pixels (over {MAX_PIXELS:,}); refused before decoding") from None
        except Exception as e:  # PIL raises many types for malformed headers
            raise ImageError(f"the image header is malformed ({reason(e)})") from None
        w, h = im.size
        if w * h > MAX_PIXELS:
            raise ImageError(f"the image is {w}x{h} = {w * h:,} pixels; the limit is {MAX_PIXELS:,} (refused before decoding)")
        if w < 1 or h < 1:
            raise ImageError("the image has no pixels")
        try:
            im.seek(0)
            if draft_side and im.format == "JPEG":
                im.draft(None, (draft_side, draft_side))
            im.load()
            ImageOps.exif_transpose(im, in_place=True)  # a copy of the whole picture only where it must turn
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"the image decodes to too many pixels (over {MAX_PIXELS:,})") from None
        except Exception as e:
            raise ImageError(f"the image is truncated or corrupt and could not be decoded ({reason(e)})") from None
    return im


def has_alpha(im: Image.Image) -> bool:
    """An alpha channel, or a transparent colour (PNG tRNS, GIF) in any mode."""
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def shrink(im: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    """Reduce by a whole factor (box filter, aspect kept) until the longer side is at most ``side``.

    Runs in PIL on the image's own pixel type, so a large upload never becomes a large float array.
    """
    return reduce_by(im, -(-max(im.size) // side))


def reduce_by(im: Image.Image, factor: int) -> Image.Image:
    """Both sides divided by a whole ``factor`` (box filter), in PIL on the image's own pixel type."""
    if factor <= 1:
        return im
    if has_alpha(im):
        return im.convert("RGBA").reduce(factor)
    if im.mode.startswith("I;16"):  # reduce has no 16-bit kernel; I keeps the values, and back
        return im.convert("I").reduce(factor).convert(im.mode)
    if im.mode not in ("L", "RGB", "I", "F", "CMYK"):  # 1, P, YCbCr, LAB, HSV
        im = im.convert("L" if im.mode == "1" else "RGB")
    return im.reduce(factor)


def to_float_array(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB float array in [0, 1] (H, W, 3) and alpha (H, W) or None, for any PIL mode."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        finite = np.isfinite(a)
        if not finite.any():
            raise ImageError("the image holds no finite pixel values (all NaN or infinite)")
        if not finite.all():  # NaN / inf holes (float TIFF) take the median: the background, in a digit
            a = np.where(finite, a, np.median(a[finite]))
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        if im.mode == "F":
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        else:
            a = a / hi
        gray = np.clip(a, 0, 1)
        return np.repeat(gray[..., None], 3, axis=2).astype(np.float32), None
    if has_alpha(im):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return rgba[..., :3], rgba[..., 3]
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0, None


def composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Put transparent pixels on the background that contrasts with the visible content."""
    visible = alpha > 0.5
    ink = luminance(rgb)[visible].mean() if visible.any() else 0.0
    background = 1.0 if ink < 0.5 else 0.0
    return rgb * alpha[..., None] + background * (1 - alpha[..., None])


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def resize(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Antialiased resize of a (H, W) or (H, W, C) float array."""
    if a.ndim == 2:
        return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((width, height), Image.Resampling.LANCZOS)).clip(0, 1)
    return np.stack([resize(a[..., c], height, width) for c in range(a.shape[2])], axis=2)


def preprocess_bytes(data: bytes, size: int = 28, channels: int = 1, mnist_style: bool = True) -> Preprocessed:
    """Decode an upload and bring it to the model's input: (size, size) gray or (3, size, size)."""
    im = open_image(data, draft_side=WORK_SIDE)
    full_size = im.size
    im = shrink(im)
    rgb, alpha = to_float_array(im)
    out = Preprocessed(image=np.zeros(0), steps=[("original", rgb)])
    if im.size != full_size:
        out.notes.append(f"reduced from {full_size[0]}x{full_size[1]} to {im.size[0]}x{im.size[1]} before processing")
    if alpha is not None and (alpha < 1).any():
        rgb = composite(rgb, alpha)
        out.notes.append("transparent pixels placed on a contrasting background")
        out.steps.append(("transparency composited", rgb))
    if channels == 3:
        out.image = np.moveaxis(resize(rgb, size, size), 2, 0).astype(np.float32)
        out.steps.append((f"resized to {size}x{size}", np.moveaxis(out.image, 0, 2)))
        return out
    gray = luminance(rgb)
    out.steps.append(("grayscale", gray))
    if gray.max() - gray.min() < 0.05:
        raise ImageError("the image is blank (one flat colour): there is nothing to encode")
    if mnist_style:
        gray = mnist_like(gray, size, out)
    else:
        gray = resize(gray, size, size)
        out.steps.append((f"resized to {size}x{size}", gray))
    out.image = gray.astype(np.float32)
    return out


def mnist_like(gray: np.ndarray, size: int, out: Preprocessed) -> np.ndarray:
    """Light ink on a dark background, cropped, fitted to MNIST's box and centred by mass."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:
        gray = 1 - gray
        border = 1 - border
        out.notes.append("inverted: the background was light")
        out.steps.append(("inverted", gray))
    # The background's level and grain, estimated robustly from the border (ink touching an edge
    # does not move a median), are taken off: grey, grainy paper in a photo is not ink.
    level = float(np.median(border))
    spread = 1.4826 * float(np.median(np.abs(border - level)))
    floor = max(float(gray.min()), level + 3 * spread)
    if gray.max() - floor < 0.05:
        raise NotADigit("nothing in it stands out from the tones along its edges: there is no plain paper around "
                        "a shape, as in a photo of an animal, an object or a scene, or a texture")
    if floor > gray.min() + 0.02:
        out.notes.append(f"background grain removed (pixels below {floor:.2f} set to background)")
    ink = np.clip((gray - floor) / (gray.max() - floor), 0, 1)
    check_single_shape(ink, gray)
    gray = ink
    rows, cols = np.nonzero(gray > 0.2)
    gray = gray[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    out.steps.append(("cropped", gray))
    box = max(1, round(size * MNIST_BOX))
    h, w = gray.shape
    scale = box / max(h, w)
    gray = resize(gray, max(1, round(h * scale)), max(1, round(w * scale)))
    canvas = np.zeros((size, size), dtype=np.float32)
    top, left = (size - gray.shape[0]) // 2, (size - gray.shape[1]) // 2
    canvas[top: top + gray.shape[0], left: left + gray.shape[1]] = gray
    cy, cx = ndimage.center_of_mass(canvas)
    if np.isfinite(cy) and np.isfinite(cx):
        canvas = ndimage.shift(canvas, ((size - 1) / 2 - cy, (size - 1) / 2 - cx), order=1, mode="constant")
    canvas = canvas.clip(0, 1)
    out.steps.append((f"resized to {box}px and centred by mass in {size}x{size}", canvas))
    return canvas


def check_single_shape(ink: np.ndarray, gray: np.ndarray) -> None:
    """Refuse a picture in which no single shape stands out as a digit would.

    ``ink`` is the picture with its background taken off (0 background, 1 the strongest ink) and
    ``gray`` the same before that (light ink on dark). Without this check a texture, a scene or a
    page of text is cropped to whatever little survives, and that sliver encodes as a plausible digit.
    """
    ink, gray = reduced(ink, SHAPE_SIDE), reduced(gray, SHAPE_SIDE)
    h, w = ink.shape
    strokes = ink > 0.2
    if not strokes.any():  # what stood out was finer than a pixel of the reduced copy
        raise NotADigit("what stands out is only a speck", "upload a picture of a single digit, large enough to see")
    joined = ndimage.binary_dilation(strokes, iterations=max(1, round(JOIN_GAP * max(h, w))))
    labels, count = ndimage.label(joined, structure=np.ones((3, 3)))
    mass = ndimage.sum(ink * strokes, labels, index=np.arange(1, count + 1))
    largest = labels == np.argmax(mass) + 1
    share = mass.max() / mass.sum()
    if share < DOMINANT_SHARE:
        raise NotADigit(f"no single shape stands out: the largest holds only {share:.0%} of what stands out "
                        f"from the background, the rest lies in {count - 1} other piece{'s' * (count > 2)} (like "
                        "specks, a texture or a page of text)")
    shape = largest & strokes
    rows, cols = np.nonzero(shape)
    extent = max(np.ptp(rows), np.ptp(cols)) + 1
    if extent < SLIVER * min(h, w):
        raise NotADigit(f"what stands out is only a sliver or a speck ({extent / min(h, w):.0%} of the picture's "
                        "side)", "upload a picture of a single digit, large enough to see")
    band_y, band_x = int(EDGE_BAND * h), int(EDGE_BAND * w)
    inside = np.zeros_like(shape)
    inside[band_y: h - band_y, band_x: w - band_x] = True
    on_edge = (ink * (shape & ~inside)).sum() / (ink * shape).sum()
    if on_edge > EDGE_SHARE:
        raise NotADigit("what stands out runs along the edge of the picture (a frame, or the edge of the paper), "
                        "not a digit", "crop the picture to the digit")
    weak = (ink > 0.05) & (ink < 0.5)
    soft = ink[weak].sum() / ink[ink > 0.05].sum()
    if soft > SOFT_SHARE:
        raise NotADigit(f"what stands out fades in softly ({soft:.0%} of it in half-tones), like a shadow, a "
                        "gradient or a blur, not pen strokes", "upload a sharp picture of a single digit")
    thickest = ndimage.distance_transform_edt(np.pad(shape, 1)).max() / extent
    if thickest > SOLID:
        raise NotADigit(f"what stands out is a solid blob (its thickest part is {thickest:.0%} of its length), "
                        "like an animal, a face or an object, not pen strokes")
    smooth = ndimage.gaussian_filter(gray, 1.0)
    edges = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
    strong = edges > 0.25 * edges.max()
    near = ndimage.binary_dilation(largest, iterations=max(1, round(2 * JOIN_GAP * max(h, w))))
    clutter = (strong & ~near).sum() / strong.sum()
    if clutter > CLUTTER_SHARE:
        raise NotADigit(f"the picture holds more than one shape ({clutter:.0%} of its strong edges lie away "
                        "from the main one), like a photo of a scene or a face", "crop it to a single digit on "
                        "plain paper")


def reduced(a: np.ndarray, side: int) -> np.ndarray:
    """A (H, W) float array box-filtered down so that its longer side is at most ``side``."""
    scale = side / max(a.shape)
    if scale >= 1:
        return a
    size = (max(1, round(a.shape[1] * scale)), max(1, round(a.shape[0] * scale)))
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX))


# --- plain preprocessing: any picture, its colour kept ----------------------------------
PLAIN_BACKGROUND = (0, 0, 0)  # transparent pixels go on black, the background of the shapes dataset


def to_8bit(im: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit "L" or "RGB": 16-bit and float images scaled (PIL's own convert
    clips them), palettes expanded, transparency composited on ``PLAIN_BACKGROUND``."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        rgb, _ = to_float_array(im)
        return Image.fromarray((rgb[..., 0] * 255 + 0.5).astype(np.uint8), mode="L")
    if has_alpha(im):
        background = Image.new("RGBA", im.size, (*PLAIN_BACKGROUND, 255))
        return Image.alpha_composite(background, im.convert("RGBA")).convert("RGB")
    return im if im.mode in ("L", "RGB") else im.convert("RGB")


def centre_square(im: Image.Image) -> Image.Image:
    """The largest centred square of the picture, in its own pixel type."""
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return im if w == h else im.crop((left, top, left + side, top + side))


def fit_square(im: Image.Image, size: int) -> Image.Image:
    """Shorter side to ``size``, then the centre crop: one antialiased resize of the centre square."""
    # crop first: resizing with a box would let the filter reach outside it, past the crop
    return centre_square(im).resize((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)


def plain_pixels(im: Image.Image, size: int, channels: int) -> np.ndarray:
    """(channels, size, size) uint8 of a decoded picture: colour kept (or luminance for 1 channel).

    The centre square is reduced by the whole factor that leaves at least twice ``size`` (what the
    resize's reducing_gap would do itself) before any conversion, so a large 16-bit or float
    picture becomes floats only at that size."""
    square = centre_square(im)
    square = reduce_by(square, square.size[0] // (2 * size))
    fitted = fit_square(to_8bit(square), size).convert("L" if channels == 1 else "RGB")
    a = np.asarray(fitted)
    return a[None] if channels == 1 else np.ascontiguousarray(np.moveaxis(a, 2, 0))


def preprocess_plain_bytes(data: bytes, size: int, channels: int) -> Preprocessed:
    """Decode an upload and bring it to a model's input without the digit steps: (size, size)
    gray or (3, size, size) colour floats in [0, 1], shorter side resized and centre-cropped.
    The picture shown as the original is reduced to WORK_SIDE first, like the digit path's."""
    im = open_image(data, draft_side=size)
    out = Preprocessed(image=np.zeros(0), steps=[])
    w, h = im.size
    shown = shrink(im)
    out.steps.append(("original", np.asarray(to_8bit(shown)) / np.float32(255)))
    if shown.size != im.size:
        out.notes.append(f"shown reduced from {w}x{h} to {shown.size[0]}x{shown.size[1]}")
    if w != h:
        out.notes.append(f"centre-cropped from {w}x{h} to a square")
    if has_alpha(im):
        out.notes.append("transparent pixels placed on black")
    pixels = plain_pixels(im, size, channels) / np.float32(255)
    out.image = pixels[0] if channels == 1 else pixels
    out.steps.append((f"resized to {size}x{size}", out.image if channels == 1 else np.moveaxis(pixels, 0, 2)))
    return out
