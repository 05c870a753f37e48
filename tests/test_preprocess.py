"""Hostile and odd image uploads, generated here, through the Upload page's own code path
(``preprocess.preprocess_bytes``). Each is either preprocessed sensibly (28x28 in [0, 1], light
ink on dark, the digit where the reference digit is, centred by mass) or refused with an
``ImageError`` whose message says why."""
from __future__ import annotations

import functools
import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile, ImageFont
from scipy import ndimage

from benchmarks import bench_upload_ood, upload_images
from explorer import novelty, preprocess
from explorer.engine import InferenceEngine
from explorer.data import load_mnist
from explorer.preprocess import ImageError, preprocess_bytes
from explorer.shipped import SHIPPED_DIR
from explorer.sources import open_model

SEVEN = [(25, 20), (75, 20), (45, 100)]  # a "7" in a 100x120 picture, stroke 10 px
NOT_AN_IMAGE = "not an image this app can read"
TRUNCATED = "truncated or corrupt"
TOO_MANY = "too many pixels"


# --- making inputs ----------------------------------------------------------------------------
def encode(im: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **options)
    return buf.getvalue()


def seven(paper=255, ink=0, mode: str = "L", size=(100, 120), at=(0, 0)) -> Image.Image:
    im = Image.new(mode, size, paper)
    ImageDraw.Draw(im).line([(x + at[0], y + at[1]) for x, y in SEVEN], fill=ink, width=10)
    return im


def seven_mask() -> np.ndarray:
    return np.asarray(seven(paper=0, ink=255)) > 0


def rgba_seven(ink: tuple[int, int, int], hidden: tuple[int, int, int]) -> bytes:
    """``ink`` strokes on a fully transparent background whose hidden colour is ``hidden``."""
    a = np.zeros((120, 100, 4), np.uint8)
    a[...] = (*hidden, 0)
    a[seven_mask()] = (*ink, 255)
    return encode(Image.fromarray(a, "RGBA"), "PNG")


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_1bit_blank(width: int, height: int) -> bytes:
    """A real 1-bit PNG of ``width`` x ``height`` white pixels, compressed row by row (so it is
    never built in memory): a few KB that decode to ``width * height`` pixels."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)] + [compressor.flush()]
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def patch_png_size(data: bytes, width: int, height: int) -> bytes:
    """The same PNG with its IHDR claiming another size (and a valid CRC, so it parses)."""
    assert data[12:16] == b"IHDR"
    body = struct.pack(">II", width, height) + data[24:29]
    return data[:8] + chunk(b"IHDR", body) + data[33:]


def idat_span(data: bytes) -> tuple[int, int]:
    at = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[at - 4: at])
    return at + 4, at + 4 + length


# --- checking results -----------------------------------------------------------------------------
@functools.cache
def reference() -> np.ndarray:
    """The plain case: a light 7 on black, losslessly stored."""
    return preprocess_bytes(encode(seven(paper=0, ink=255), "PNG")).image


def check_digit(image: np.ndarray) -> None:
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert image.max() > 0.6, "the digit came out faint"
    corners = np.concatenate([image[:3, :3].ravel(), image[:3, -3:].ravel(), image[-3:, :3].ravel(), image[-3:, -3:].ravel()])
    assert corners.max() < 0.05, "the background is not dark"
    cy, cx = ndimage.center_of_mass(image)
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1, f"mass centred at ({cy:.1f}, {cx:.1f})"
    rows, cols = np.nonzero(image > 0.2)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= 23, "the digit overflows MNIST's 20x20 box"


def same_digit(image: np.ndarray, exact: bool) -> None:
    """The reference 7, exactly (lossless) or closely (lossy formats)."""
    check_digit(image)
    if exact:
        assert np.abs(image - reference()).max() < 0.02
    else:
        assert np.corrcoef(image.ravel(), reference().ravel())[0, 1] > 0.9


def refused(data: bytes, *fragments: str) -> str:
    with pytest.raises(ImageError) as info:
        preprocess_bytes(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture
def decodes(monkeypatch) -> list[tuple[int, int]]:
    """Sizes of the images whose pixels PIL decoded (``ImageFile.load`` calls)."""
    seen: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self):
        seen.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return seen


def measured(fn):
    """(result, seconds, peak MB of Python/numpy allocations) of ``fn()``."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = fn()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result, seconds, peak


# --- not images at all ------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    b"Dear model, please read this digit: 7\n" * 5,
    np.random.default_rng(0).bytes(5000),
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
    b"<!DOCTYPE html>\n<html><head><title>7</title></head><body><img src=\"seven.png\"></body></html>\n",
], ids=["text", "random-bytes", "pdf", "html"])
def test_not_an_image_is_refused(data):
    message = refused(data, NOT_AN_IMAGE)
    assert "PNG, JPEG, GIF, BMP, TIFF, WebP" in message


@pytest.mark.parametrize("data", [
    b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><path d="M4 4h20L12 26" stroke="#fff"/></svg>',
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- a seven -->\n<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>',
], ids=["svg", "svg-with-xml-prolog"])
def test_svg_is_refused(data):
    refused(data, "SVG is a vector format and is not accepted")


def test_empty_file_is_refused():
    refused(b"", "the file is empty")


def test_file_over_the_upload_limit_is_refused_unread(decodes):
    png = encode(seven(), "PNG")
    data = png + b"\x00" * (preprocess.MAX_UPLOAD_BYTES + 1 - len(png))
    refused(data, f"{preprocess.MAX_UPLOAD_BYTES + 1:,} bytes", "10 MB upload limit")
    assert decodes == []


# --- truncated files -------------------------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.1, 0.4, 0.7, 0.95])
def test_png_cut_inside_its_pixel_data_is_refused(fraction):
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 100), dtype=np.uint8))
    data = encode(picture, "PNG")
    start, end = idat_span(data)
    refused(data[: start + int((end - start) * fraction)], TRUNCATED)


def test_png_cut_inside_its_header_is_refused():
    data = encode(seven(), "PNG")
    message = refused(data[:20])
    assert "malformed" in message or NOT_AN_IMAGE in message, message


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, -2], ids=["30%", "60%", "90%", "no-end-marker"])
def test_jpeg_cut_short_is_refused(keep):
    data = encode(seven(mode="RGB", paper=(255, 255, 255), ink=(0, 0, 0)), "JPEG", quality=95)
    cut = data[:keep] if keep < 0 else data[: int(len(data) * keep)]
    refused(cut, TRUNCATED, "truncated")


# --- decompression bombs and lying headers ------------------------------------------------------------
def test_png_claiming_30000x30000_is_refused_before_decoding(decodes):
    data = patch_png_size(encode(seven(), "PNG"), 30000, 30000)
    assert len(data) < 2000
    _, seconds, peak = measured(lambda: refused(data, TOO_MANY, "refused before decoding"))
    assert decodes == [] and seconds < 0.5 and peak < 5


def test_real_1bit_bomb_over_the_pixel_limit_is_refused_before_decoding(decodes):
    data = png_1bit_blank(6000, 6000)  # 36 million pixels in a few KB: over our limit, under PIL's
    assert len(data) < 20_000
    _, seconds, peak = measured(lambda: refused(data, "6000x6000 = 36,000,000 pixels", "refused before decoding"))
    assert decodes == [] and seconds < 0.5 and peak < 5


def test_1bit_image_just_under_the_limit_is_decoded_small_and_fast():
    im = Image.new("1", (4999, 4999), 1)
    ImageDraw.Draw(im).rectangle([2200, 1800, 2700, 3200], fill=0)  # a dark bar: a "1"
    data = encode(im, "PNG")
    assert len(data) < 50_000 and 4999 * 4999 <= preprocess.MAX_PIXELS
    out, seconds, peak = measured(lambda: preprocess_bytes(data))
    check_digit(out.image)
    assert "reduced from 4999x4999 to 1000x1000 before processing" in out.notes
    # Float arrays at full size took 600 MB and 4 s; reduced first, a few tens of MB.
    assert peak < 80, f"{peak:.0f} MB"
    assert seconds < 2, f"{seconds:.1f} s"


def test_a_large_upload_for_a_colour_model_is_reduced_before_it_becomes_floats():
    """The plain (colour) path made the whole 5000x5000 picture floats for its "original" step and
    converted it at full size: 358 MB at its peak, where the digit path takes tens of MB."""
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)).resize((5000, 5000), Image.NEAREST)
    data = encode(im, "PNG", compress_level=1)
    assert len(data) < preprocess.MAX_UPLOAD_BYTES
    out, _, peak = measured(lambda: preprocess.preprocess_plain_bytes(data, size=64, channels=3))
    assert out.image.shape == (3, 64, 64) and out.steps[0][1].shape == (1000, 1000, 3)
    assert "shown reduced from 5000x5000 to 1000x1000" in out.notes
    assert peak < 80, f"{peak:.0f} MB"
    # a 16-bit picture, as a folder's file is read: converted to floats only once reduced
    deep = Image.fromarray((rng.integers(0, 65536, (50, 50)).astype(np.uint16))).resize((4000, 4000), Image.NEAREST)
    pixels, _, peak = measured(lambda: preprocess.plain_pixels(deep, 64, 1))
    assert pixels.shape == (1, 64, 64) and peak < 40, f"{peak:.0f} MB"


def gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("P", (10, 10)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)  # logical screen
    descriptor = data.index(b",", 13)
    data[descriptor + 5: descriptor + 9] = struct.pack("<HH", width, height)  # the frame
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 1, 0, 0, 0, 0, 2, 0)
    return b"BM" + struct.pack("<IHHI", 70, 0, 0, 62) + info + b"\x00\x00\x00\x00\xff\xff\xff\x00" + b"\x00" * 8


@pytest.mark.parametrize("data, fragment", [
    (gif_claiming(65535, 65535), TOO_MANY),
    (gif_claiming(6000, 6000), "6000x6000 = 36,000,000 pixels"),
    (bmp_claiming(100_000, 100_000), TOO_MANY),
    (bmp_claiming(5001, 5001), "5001x5001 = 25,010,001 pixels"),
], ids=["gif-65535", "gif-6000", "bmp-100000", "bmp-5001"])
def test_tiny_file_with_huge_dimensions_is_refused(data, fragment, decodes):
    assert len(data) < 100
    refused(data, fragment, "refused before decoding")
    assert decodes == []


def test_png_text_chunk_bomb_is_refused():
    zt = b"Comment\x00\x00" + zlib.compress(b"\x00" * (64 * 2**20), 9)  # 64 MB of text in ~64 KB
    png = encode(seven(), "PNG")
    data = png[:33] + chunk(b"zTXt", zt) + png[33:]
    _, seconds, _ = measured(lambda: refused(data, "malformed", "too large"))
    assert seconds < 1


# --- nothing to encode ----------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    encode(Image.new("RGB", (64, 64), "white"), "PNG"),
    encode(Image.new("L", (64, 64), 0), "JPEG"),
    encode(Image.new("L", (1, 1), 128), "PNG"),
], ids=["all-white", "all-black", "1x1"])
def test_blank_image_is_refused(data):
    refused(data, "blank", "nothing to encode")


def test_pure_noise_is_refused():
    noise = np.random.default_rng(2).integers(0, 256, (64, 64), dtype=np.uint8)
    refused(encode(Image.fromarray(noise), "PNG"), "nothing in it stands out from the tones along its edges")


def test_float_tiff_without_finite_values_is_refused():
    refused(encode(Image.fromarray(np.full((20, 20), np.nan, np.float32), "F"), "TIFF"), "no finite pixel values")


# --- accepted, and preprocessed like MNIST -----------------------------------------------------------------
def test_light_on_dark_digit_is_kept_as_it_is():
    out = preprocess_bytes(encode(seven(paper=0, ink=255), "PNG"))
    check_digit(out.image)
    assert not any("inverted" in n for n in out.notes)
    # the stroke is where the 7's stroke is: the top bar is the brightest row band
    assert out.image[:10].sum() > out.image[-10:].sum()


def test_dark_on_light_digit_is_inverted():
    out = preprocess_bytes(encode(seven(), "PNG"))
    same_digit(out.image, exact=True)
    assert "inverted: the background was light" in out.notes


def test_small_digit_off_in_a_corner_is_cropped_scaled_and_centred():
    im = Image.new("L", (600, 400), 255)
    ImageDraw.Draw(im).line([(20, 15), (60, 15), (36, 80)], fill=0, width=8)
    out = preprocess_bytes(encode(im, "PNG"))
    check_digit(out.image)
    rows, cols = np.nonzero(out.image > 0.2)
    assert np.ptp(rows) + 1 >= 18, "not scaled up to MNIST's 20-pixel box"


@pytest.mark.parametrize("fmt, exact", [("BMP", True), ("TIFF", True), ("WEBP", False)])
def test_other_raster_formats_are_accepted(fmt, exact):
    data = encode(seven(mode="RGB", paper=(255, 255, 255), ink=(0, 0, 0)), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt
    same_digit(preprocess_bytes(data).image, exact)


def test_animated_gif_uses_its_first_frame():
    first = seven(mode="RGB", paper=(255, 255, 255), ink=(0, 0, 0))
    second = Image.new("RGB", (100, 120), "white")
    ImageDraw.Draw(second).ellipse([10, 10, 90, 110], outline="black", width=10)  # a 0
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=200, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    same_digit(preprocess_bytes(data).image, exact=True)


def test_cmyk_jpeg_is_accepted():
    data = encode(seven(mode="RGB", paper=(255, 255, 255), ink=(0, 0, 0)).convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    same_digit(preprocess_bytes(data).image, exact=False)


def test_16bit_png_is_scaled_from_its_full_range():
    a = np.asarray(seven(), dtype=np.uint16) * 257  # 0 and 65535
    data = encode(Image.fromarray(a), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    same_digit(preprocess_bytes(data).image, exact=True)


def test_float_tiff_of_any_scale_is_accepted():
    a = np.asarray(seven(), dtype=np.float32) * 3.7 - 120  # -120 .. 823.5
    data = encode(Image.fromarray(a, "F"), "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "F"
    same_digit(preprocess_bytes(data).image, exact=True)


def test_float_tiff_with_nan_holes_is_accepted():
    a = np.asarray(seven(), dtype=np.float32) / 255
    a[0, 0], a[60, 5], a[119, 99] = np.nan, np.inf, -np.inf
    same_digit(preprocess_bytes(encode(Image.fromarray(a, "F"), "TIFF")).image, exact=True)


@pytest.mark.parametrize("ink, hidden", [((0, 0, 0), (0, 0, 0)), ((255, 255, 255), (255, 255, 255))],
                         ids=["dark-ink", "light-ink"])
def test_rgba_on_transparent_background_is_composited(ink, hidden):
    # The hidden colour of the transparent pixels equals the ink: dropping alpha would give a blank
    # picture. Composited on a contrasting background, the 7 survives.
    out = preprocess_bytes(rgba_seven(ink, hidden))
    same_digit(out.image, exact=True)
    assert "transparent pixels placed on a contrasting background" in out.notes


def test_grayscale_with_alpha_is_composited():
    a = np.zeros((120, 100, 2), np.uint8)
    a[seven_mask()] = (0, 255)  # dark ink, everything else transparent black
    out = preprocess_bytes(encode(Image.fromarray(a, "LA"), "PNG"))
    same_digit(out.image, exact=True)
    assert "transparent pixels placed on a contrasting background" in out.notes


def test_palette_image_without_transparency_is_accepted():
    data = encode(seven(mode="RGB", paper=(255, 255, 255), ink=(20, 20, 120)).convert("P"), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "P"
    same_digit(preprocess_bytes(data).image, exact=False)


def test_palette_image_with_a_transparent_index_is_composited():
    im = Image.new("P", (100, 120), 0)
    im.putpalette([0, 0, 0, 0, 0, 0] + [0] * (254 * 3))  # index 0 (background) and 1 (ink) both black
    ImageDraw.Draw(im).line(SEVEN, fill=1, width=10)
    data = encode(im, "PNG", transparency=0)
    out = preprocess_bytes(data)
    same_digit(out.image, exact=True)
    assert "transparent pixels placed on a contrasting background" in out.notes


def test_grayscale_with_a_transparent_colour_is_composited():
    data = encode(seven(paper=255, ink=0), "PNG", transparency=255)  # tRNS on a grey PNG
    out = preprocess_bytes(data)
    same_digit(out.image, exact=True)
    assert "transparent pixels placed on a contrasting background" in out.notes


def corner_mark() -> Image.Image:
    """A dark "Γ" on white, 120 wide and 80 tall: its corner is the top left."""
    im = Image.new("RGB", (120, 80), "white")
    draw = ImageDraw.Draw(im)
    draw.rectangle([8, 8, 112, 20], fill="black")
    draw.rectangle([8, 8, 20, 72], fill="black")
    return im


@pytest.mark.parametrize("orientation, corner, upright", [
    (1, (0, 0), False), (3, (1, 1), False), (6, (0, 1), True), (8, (1, 0), True),
], ids=["normal", "rotate-180", "rotate-90-cw", "rotate-90-ccw"])
def test_exif_orientation_is_applied(orientation, corner, upright):
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = preprocess_bytes(encode(corner_mark(), "JPEG", quality=95, exif=exif)).image
    check_digit(image)
    # The Γ's corner is where its two bars meet: the heaviest row and the heaviest column.
    row, col = image.sum(axis=1).argmax(), image.sum(axis=0).argmax()
    assert (int(row >= 14), int(col >= 14)) == corner, (row, col)
    quadrants = np.array([[image[:14, :14].sum(), image[:14, 14:].sum()],
                          [image[14:, :14].sum(), image[14:, 14:].sum()]])
    assert quadrants[1 - corner[0], 1 - corner[1]] < 0.05 * quadrants.sum(), "the opposite corner should be empty"
    rows, cols = np.nonzero(image > 0.3)
    assert (np.ptp(rows) > np.ptp(cols)) == upright  # turned to portrait by orientations 6 and 8


def test_very_wide_image_is_accepted():
    im = Image.new("L", (10000, 10), 255)
    ImageDraw.Draw(im).rectangle([3000, 2, 7000, 7], fill=0)
    out = preprocess_bytes(encode(im, "PNG"))
    image = out.image
    assert image.shape == (28, 28) and 0 <= image.min() and image.max() <= 1
    cy, cx = ndimage.center_of_mass(image)
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1
    rows, cols = np.nonzero(image > 0.1)
    assert np.ptp(rows) <= 2 and 18 <= np.ptp(cols) + 1 <= 22, "a horizontal bar across the 20-pixel box"


def test_photo_with_light_noisy_background():
    rng = np.random.default_rng(3)
    paper = rng.normal(205, 22, (120, 100)) + np.linspace(-15, 15, 100)  # grainy, unevenly lit
    paper[seven_mask()] = rng.normal(45, 10, seven_mask().sum())
    data = encode(Image.fromarray(paper.clip(0, 255).astype(np.uint8)), "JPEG", quality=85)
    out = preprocess_bytes(data)
    same_digit(out.image, exact=False)
    background = ~ndimage.binary_dilation(reference() > 0.05, iterations=2)
    assert out.image[background].mean() < 0.02, "the paper's grain was taken for ink"
    assert any(n.startswith("background grain removed") for n in out.notes)


def test_large_photo_is_decoded_at_reduced_scale():
    im = Image.new("RGB", (4000, 3000), (230, 225, 215))
    ImageDraw.Draw(im).line([(1500, 800), (2500, 800), (1800, 2300)], fill=(30, 30, 40), width=120)
    data = encode(im, "JPEG", quality=80)
    out, seconds, peak = measured(lambda: preprocess_bytes(data))
    check_digit(out.image)
    assert any(n.startswith("reduced from 2000x1500") for n in out.notes), out.notes  # JPEG draft at 1/2
    assert peak < 80 and seconds < 3


def test_colour_model_gets_three_channels_composited_on_white():
    # dark red ink on transparent black: the background must come out white, not black
    out = preprocess_bytes(rgba_seven((180, 20, 20), (0, 0, 0)), channels=3)
    image = out.image
    assert image.shape == (3, 28, 28) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1
    assert image[:, :2, :2].min() > 0.95, "the transparent background is not white"
    stroke = image[1] < 0.4  # where green is low: the ink
    assert stroke.sum() > 20 and image[0][stroke].mean() > 0.5  # and the ink there is red


def test_plain_preprocessing_resizes_without_inverting():
    out = preprocess_bytes(encode(seven(), "PNG"), mnist_style=False)
    image = out.image
    assert image.shape == (28, 28) and 0 <= image.min() and image.max() <= 1
    assert image[0, 0] > 0.9 and image.mean() > 0.6, "the light background was kept"


# --- not a digit: no single shape stands out (issue 9, defect 7) -------------------------------------------
# Each of these was accepted before: cropped to whatever little stood out, it encoded as a plausible digit.
def paper(width: int = 240, height: int = 200) -> Image.Image:
    return Image.new("L", (width, height), 235)


def specks() -> Image.Image:
    im = paper()
    draw = ImageDraw.Draw(im)
    for x, y in np.random.default_rng(0).uniform(10, 190, (30, 2)):
        draw.ellipse([x, y, x + 5, y + 5], fill=30)
    return im


def text_page() -> Image.Image:
    im = paper(320, 240)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=14)
    for line in range(10):
        draw.text((12, 10 + 22 * line), "a page of text is not a digit at all, no", fill=20, font=font)
    return im


def sliver() -> Image.Image:
    im = paper()
    ImageDraw.Draw(im).rectangle([150, 90, 153, 91], fill=40)
    return im


def frame_edge() -> Image.Image:
    im = paper()
    ImageDraw.Draw(im).rectangle([0, 0, 5, 199], fill=30)  # the dark edge of a table beside the paper
    return im


def shadow() -> np.ndarray:
    """A round shadow on white paper, darkest in the middle and fading out to 90 pixels."""
    yy, xx = np.mgrid[0:200, 0:240]
    return 0.9 - 0.5 * np.clip(1 - np.hypot(xx - 120, yy - 100) / 90, 0, 1) ** 2


def coin() -> Image.Image:
    im = paper()
    ImageDraw.Draw(im).ellipse([70, 50, 170, 150], fill=40)
    return im


@pytest.mark.parametrize("data, fragment", [
    (upload_images.even_texture(), "no single shape stands out"),
    (encode(specks(), "PNG"), "no single shape stands out"),
    (encode(text_page(), "PNG"), "no single shape stands out"),
    (encode(sliver(), "PNG"), "only a sliver or a speck"),
    (encode(frame_edge(), "PNG"), "runs along the edge of the picture"),
    (encode(Image.fromarray((shadow() * 255).astype(np.uint8)), "PNG"), "fades in softly"),
    (encode(coin(), "PNG"), "a solid blob"),
], ids=["even-texture", "specks", "page-of-text", "sliver", "frame-edge", "shadow", "solid-blob"])
def test_picture_where_no_single_stroke_shape_stands_out_is_refused(data, fragment):
    message = refused(data, fragment)
    assert "digit" in message, "the message says what to upload instead"


def test_photo_of_a_scene_is_refused():
    # A generated face whose dark parts (eyes, brows, mouth) are small beside the strong edges of
    # the face, the hair and the shoulders.
    face = upload_images.non_digits(6, seed=0)[11]
    assert face.category == "face"
    refused(face.data, "holds more than one shape", "strong edges")


def test_photos_of_handwritten_digits_on_paper_are_accepted():
    for photo in upload_images.digit_photos(30, seed=3):
        check_digit(preprocess_bytes(photo.data).image)


def test_generated_uploads_are_judged_like_the_upload_page_judges_them():
    # A small version of benchmarks/bench_upload_ood.py on a seed the thresholds were not tuned on,
    # with floors below what the benchmark measures on 600 pictures (98.7% and 100%).
    engine = InferenceEngine(open_model(SHIPPED_DIR / "mnist-vae"), device="cpu")
    dataset = load_mnist()
    codes = engine.encode_dataset(dataset)
    reference = novelty.reference_from(codes.codes, codes.errors, dataset.train_idx, dataset.test_idx)
    others = bench_upload_ood.outcomes(upload_images.non_digits(8, seed=2), engine, reference)
    digits = bench_upload_ood.outcomes(upload_images.digit_photos(40, seed=2), engine, reference)
    caught = np.mean([bench_upload_ood.rejected(o) for o in others])
    accepted = np.mean([not bench_upload_ood.rejected(o) for o in digits])
    assert caught >= 0.9, others
    assert accepted >= 0.9, digits
