"""The ``shapes`` dataset: 64x64 colour sprites with known, independent generative factors.

After dSprites (Matthey et al., 2017) and 3D Shapes (Burgess & Kim, 2018), in colour: one
sprite on a black background, and every image is one point of a full factor grid

    shape     square, ellipse, triangle, heart                         4
    colour    red, yellow, green, cyan, blue, magenta (hues 60° apart)  6
    scale     circumradius 6.5 .. 14 px                                 6
    rotation  10 steps over the shape's symmetry period                10
    x, y      sprite centroid at 14 .. 50 px, 4 px apart               10 each

The fine grid (``FINE``) has the same factors with x and y 1 px apart (37 positions each way,
1,971,360 images): enough for a million distinct images, and the positions between the 4-px
grid's are ones the shipped models never saw. Factor x or y is then an index into FINE_POSITIONS.

Rotation is defined modulo each shape's symmetry, so every step is a distinct image: step k
turns the sprite by k/10 of its period (square 90°, ellipse 180°, equilateral triangle 120°,
heart 360°). Without this, a square's steps at 0° and 90° would be the same picture with two
factor values, which no model could tell apart and every disentanglement score would count
against it.

Every sprite is centred on its area centroid, so x and y are where its centre of mass lies.
Sprites are drawn antialiased: each (shape, scale, rotation) mask is rendered once with PIL at
4x and averaged down to coverage, then pasted at the grid positions in colour. Images are
stored as uint8; 50,000 are generated in a few seconds.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

SIDE = 64
SUPERSAMPLE = 4  # masks are drawn at 4x and averaged down: antialiased edges
TEMPLATE = 32  # side of the box a sprite mask is drawn in (the largest sprite spans 28 px)
SHAPES = ("square", "ellipse", "triangle", "heart")
SYMMETRY_DEGREES = {"square": 90.0, "ellipse": 180.0, "triangle": 120.0, "heart": 360.0}
HUES = (0, 60, 120, 180, 240, 300)
COLOURS = ("red", "yellow", "green", "cyan", "blue", "magenta")
RADII = np.linspace(6.5, 14.0, 6)  # circumradius in pixels: every sprite fits this circle at any angle
ROTATION_STEPS = 10
POSITIONS = np.linspace(14, 50, 10).astype(int)  # centroids; the largest sprite still fits the frame
FACTOR_NAMES = ["shape", "colour", "scale", "rotation", "x", "y"]
FACTOR_SIZES = (len(SHAPES), len(HUES), len(RADII), ROTATION_STEPS, len(POSITIONS), len(POSITIONS))
GRID_SIZE = int(np.prod(FACTOR_SIZES))  # 144,000
DEFAULT_SIZE = 50_000
FINE_POSITIONS = np.arange(14, 51)  # the same span, 1 px apart: 37 positions
FINE_FACTOR_SIZES = FACTOR_SIZES[:4] + (len(FINE_POSITIONS), len(FINE_POSITIONS))
FINE_GRID_SIZE = int(np.prod(FINE_FACTOR_SIZES))  # 1,971,360
GRIDS = {"4px": (POSITIONS, FACTOR_SIZES), "1px": (FINE_POSITIONS, FINE_FACTOR_SIZES)}  # name -> positions, sizes

Progress = Callable[[float], None] | None


# --- outlines ---------------------------------------------------------------------------
def outline(shape: str) -> np.ndarray:
    """(P, 2) polygon (x right, y down), centroid at the origin, farthest vertex at radius 1."""
    if shape == "square":
        t = np.deg2rad([45, 135, 225, 315])
        points = np.stack([np.cos(t), np.sin(t)], 1)
    elif shape == "ellipse":
        t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
        points = np.stack([np.cos(t), 0.55 * np.sin(t)], 1)  # elongated, so a turn shows
    elif shape == "triangle":
        t = np.deg2rad([-90, 30, 150])  # equilateral, point up
        points = np.stack([np.cos(t), np.sin(t)], 1)
    elif shape == "heart":
        t = np.linspace(0, 2 * np.pi, 240, endpoint=False)
        hx = 16 * np.sin(t) ** 3
        hy = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        points = np.stack([hx, -hy], 1)  # lobes up in image coordinates (y down)
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    points = points - polygon_centroid(points)
    return points / np.linalg.norm(points, axis=1).max()


def polygon_centroid(points: np.ndarray) -> np.ndarray:
    """Area centroid of a simple polygon (shoelace formula)."""
    x, y = points[:, 0], points[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    return np.array([((x + np.roll(x, -1)) * cross).sum(), ((y + np.roll(y, -1)) * cross).sum()]) / (6 * area)


def rotation_degrees(shape: int, step: int) -> float:
    """The angle of rotation step ``step`` for shape index ``shape`` (modulo its symmetry)."""
    return step * SYMMETRY_DEGREES[SHAPES[shape]] / ROTATION_STEPS


def sprite_mask(shape: int, scale: int, rotation: int) -> np.ndarray:
    """(TEMPLATE, TEMPLATE) float32 coverage in [0, 1], centroid at the box's centre point."""
    angle = np.deg2rad(rotation_degrees(shape, rotation))
    turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])  # clockwise on screen
    points = outline(SHAPES[shape]) @ turn * RADII[scale]
    big = TEMPLATE * SUPERSAMPLE
    # PIL puts pixel centres at integer coordinates: shift by half a pixel so the sprite's
    # centroid lands on the box's centre point (a pixel corner at TEMPLATE / 2)
    corners = (points + TEMPLATE / 2) * SUPERSAMPLE - 0.5
    canvas = Image.new("L", (big, big), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in corners], fill=255)
    cover = np.asarray(canvas, dtype=np.float32) / 255.0
    return cover.reshape(TEMPLATE, SUPERSAMPLE, TEMPLATE, SUPERSAMPLE).mean(axis=(1, 3))


def all_masks() -> np.ndarray:
    """(shape, scale, rotation, TEMPLATE, TEMPLATE) masks: 240 small drawings, done once."""
    return np.stack([np.stack([np.stack([sprite_mask(s, k, r) for r in range(ROTATION_STEPS)])
                               for k in range(len(RADII))]) for s in range(len(SHAPES))])


def colour_rgb() -> np.ndarray:
    """(colours, 3) RGB in [0, 1]: full saturation and value at each hue."""
    h = np.asarray(HUES, dtype=np.float64) / 60.0
    channel = lambda n: np.clip(np.abs((h + n) % 6 - 3) - 1, 0, 1)  # HSV to RGB with s = v = 1
    return np.stack([channel(0), channel(4), channel(2)], 1).astype(np.float32)


# --- the factor grid --------------------------------------------------------------------
def sample_factors(size: int = DEFAULT_SIZE, seed: int = 0, grid: str = "4px") -> np.ndarray:
    """(size, 6) int factors: ``size`` distinct grid points drawn without replacement, in grid order."""
    sizes = GRIDS[grid][1]
    total = int(np.prod(sizes))
    if not 1 <= size <= total:
        raise ValueError(f"shapes size must be between 1 and the full grid of {total:,}, got {size:,}")
    rng = np.random.default_rng(seed)
    flat = np.arange(total) if size == total else np.sort(rng.choice(total, size, replace=False))
    return np.stack(np.unravel_index(flat, sizes), 1).astype(np.int64)


def grid_order(seed: int = 0) -> np.ndarray:
    """(GRID_SIZE, 6) int factors: every grid point once, in a seeded random order, so that any
    first N rows are a uniform draw of N."""
    flat = np.random.default_rng(seed).permutation(GRID_SIZE)
    return np.stack(np.unravel_index(flat, FACTOR_SIZES), 1).astype(np.int64)


CHUNK = 8192  # images rendered at a time: ~100 MB of work memory whatever the size


def render(factors: np.ndarray, out: np.ndarray | None = None, progress: Progress = None,
           grid: str = "4px") -> np.ndarray:
    """(N, 3, SIDE, SIDE) uint8 images of the given factor rows, written a chunk at a time into
    ``out`` if given (e.g. a cache.RowWriter: a large grid then never sits in memory)."""
    factors = np.asarray(factors, dtype=np.int64)
    if out is None:
        out = np.empty((len(factors), 3, SIDE, SIDE), dtype=np.uint8)
    masks, rgb = cached_masks(), colour_rgb()
    for start in range(0, len(factors), CHUNK):
        out[start: start + CHUNK] = render_chunk(factors[start: start + CHUNK], masks, rgb, GRIDS[grid][0])
        if progress:
            progress(min(start + CHUNK, len(factors)) / len(factors))
    return out


def render_chunk(factors: np.ndarray, masks: np.ndarray, rgb: np.ndarray,
                 positions: np.ndarray = POSITIONS) -> np.ndarray:
    out = np.zeros((len(factors), 3, SIDE, SIDE), dtype=np.uint8)
    shape, colour, scale, rotation, px, py = factors.T
    # one vectorised paste per position: every image there writes the same slice of the frame
    # (grouped by sorting, so the 1,369 positions of the fine grid cost one pass, not 1,369)
    place = py * len(positions) + px
    order = np.argsort(place, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(place[order]) != 0])
    for rows in np.split(order, starts[1:]):
        cy, cx = divmod(int(place[rows[0]]), len(positions))
        paste(out, rows, masks[shape[rows], scale[rows], rotation[rows]], rgb[colour[rows]],
              positions[cy], positions[cx])
    return out


def paste(out: np.ndarray, rows: np.ndarray, masks: np.ndarray, rgb: np.ndarray, cy: int, cx: int) -> None:
    """Write masks (n, T, T) in colours (n, 3) centred at pixel corner (cy, cx), clipped to the frame."""
    top, left = cy - TEMPLATE // 2, cx - TEMPLATE // 2
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + TEMPLATE, SIDE), min(left + TEMPLATE, SIDE)
    cut = masks[:, y0 - top: y1 - top, x0 - left: x1 - left]
    out[rows, :, y0:y1, x0:x1] = (cut[:, None] * rgb[:, :, None, None] * 255.0 + 0.5).astype(np.uint8)


@functools.cache
def cached_masks() -> np.ndarray:
    """all_masks(), drawn once per process (0.4 s) and shared read-only by every render."""
    masks = all_masks()
    masks.flags.writeable = False
    return masks


def generate(size: int = DEFAULT_SIZE, seed: int = 0, progress: Progress = None) -> tuple[np.ndarray, np.ndarray]:
    """``(images, factors)``: (size, 3, 64, 64) uint8 and (size, 6) int64, the same for a seed."""
    factors = sample_factors(size, seed)
    return render(factors, progress=progress), factors


def factor_values(grid: str = "4px") -> list[list[str]]:
    """Each factor's values in words, in factor order. A rotation step is an angle only for a
    given shape (rotation_degrees), so here it is the step."""
    positions = [str(p) for p in GRIDS[grid][0]]
    return [list(SHAPES), list(COLOURS), [f"{2 * r:.0f} px" for r in RADII],
            [f"step {k}" for k in range(ROTATION_STEPS)], positions, positions]
