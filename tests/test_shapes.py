"""The generated shapes dataset: each factor does what it says, and the Dataset carries them."""
from __future__ import annotations

import colorsys

import numpy as np
import pytest
from scipy import ndimage

from explorer import data, dataset_spec, shapes
from explorer.data import DatasetError

SHAPE, COLOUR, SCALE, ROTATION, X, Y = range(6)


def rows(base: list[int], factor: int, values) -> np.ndarray:
    """Factor rows equal to ``base`` except ``factor``, which takes each of ``values``."""
    out = np.tile(np.array(base, dtype=np.int64), (len(values), 1))
    out[:, factor] = values
    return out


def coverage(images: np.ndarray) -> np.ndarray:
    """(N, H, W) sprite coverage: the brightest channel (every colour has one channel at 1)."""
    return images.max(axis=1).astype(np.float64) / 255


def centroids(images: np.ndarray) -> np.ndarray:
    """(N, 2) centre of mass (row, col) of each sprite, in pixel-centre coordinates."""
    return np.array([ndimage.center_of_mass(c) for c in coverage(images)])


def test_centroid_moves_with_x_and_y():
    steps = np.arange(len(shapes.POSITIONS))
    for shape in range(len(shapes.SHAPES)):
        across = centroids(shapes.render(rows([shape, 0, 3, 2, 0, 4], X, steps)))
        down = centroids(shapes.render(rows([shape, 0, 3, 2, 6, 0], Y, steps)))
        # a pixel's centre is at index + 0.5, so the sprite's centroid is at position - 0.5
        assert np.allclose(across[:, 1], shapes.POSITIONS - 0.5, atol=0.15), (shape, across)
        assert np.allclose(down[:, 0], shapes.POSITIONS - 0.5, atol=0.15), (shape, down)
        assert np.ptp(across[:, 0]) < 0.05 and np.ptp(down[:, 1]) < 0.05  # the other axis stays


def test_area_grows_with_scale():
    steps = np.arange(len(shapes.RADII))
    for shape in range(len(shapes.SHAPES)):
        area = coverage(shapes.render(rows([shape, 2, 0, 3, 5, 5], SCALE, steps))).sum(axis=(1, 2))
        assert np.all(np.diff(area) > 0), (shape, area)
        # area goes with the square of the size
        assert np.allclose(area / area[-1], (shapes.RADII / shapes.RADII[-1]) ** 2, rtol=0.06), (shape, area)


def test_hue_matches():
    images = shapes.render(rows([0, 0, 5, 0, 5, 5], COLOUR, np.arange(len(shapes.HUES))))
    for colour, image in zip(range(len(shapes.HUES)), images):
        inside = coverage(image[None])[0] == 1
        rgb = image[:, inside].mean(axis=1) / 255
        hue, saturation, value = colorsys.rgb_to_hsv(*rgb)
        assert hue * 360 == pytest.approx(shapes.HUES[colour], abs=1), shapes.COLOURS[colour]
        assert saturation == pytest.approx(1) and value == pytest.approx(1)
        assert image[:, ~(coverage(image[None])[0] > 0)].max() == 0  # a plain black background


def test_rotation_turns_the_mask():
    steps = np.arange(shapes.ROTATION_STEPS)
    heart = [shapes.sprite_mask(3, 5, step) for step in steps]  # centroid at the box's centre
    for step in steps[1:]:
        angle = shapes.rotation_degrees(3, step)
        # turning the upright heart by the step's angle (clockwise on screen) gives the step's image,
        # and (but at 180 degrees) turning it the other way does not
        error = np.abs(ndimage.rotate(heart[0], -angle, reshape=False, order=1) - heart[step]).mean()
        wrong_way = np.abs(ndimage.rotate(heart[0], angle, reshape=False, order=1) - heart[step]).mean()
        unturned = np.abs(heart[0] - heart[step]).mean()
        assert error < 0.2 * unturned, (step, error, unturned)
        assert angle == 180 or error < 0.2 * wrong_way, (step, error, wrong_way)
    # the ellipse's long axis turns by 18 degrees a step (10 steps over its 180-degree symmetry)
    ellipse = coverage(shapes.render(rows([1, 0, 5, 0, 5, 5], ROTATION, steps)))
    axis = np.array([long_axis_degrees(e) for e in ellipse])
    assert np.allclose(axis, steps * 18.0, atol=1.5), axis


def long_axis_degrees(mask: np.ndarray) -> float:
    """Direction of the long axis, clockwise from the x axis on screen, in [0, 180)."""
    r, c = np.indices(mask.shape)
    w = mask / mask.sum()
    dr, dc = r - (w * r).sum(), c - (w * c).sum()
    cov = np.array([[(w * dc * dc).sum(), (w * dc * dr).sum()], [(w * dc * dr).sum(), (w * dr * dr).sum()]])
    vals, vecs = np.linalg.eigh(cov)
    x, y = vecs[:, np.argmax(vals)]
    return float(np.degrees(np.arctan2(y, x)) % 180)


def test_every_rotation_step_is_a_distinct_image():
    """Rotation is taken modulo each shape's symmetry: no two steps draw the same picture."""
    steps = np.arange(shapes.ROTATION_STEPS)
    for shape in range(len(shapes.SHAPES)):
        masks = coverage(shapes.render(rows([shape, 0, 5, 0, 5, 5], ROTATION, steps)))
        diffs = np.abs(masks[:, None] - masks[None]).sum(axis=(2, 3))
        off_diagonal = diffs[~np.eye(len(steps), dtype=bool)]
        assert off_diagonal.min() > 5, (shapes.SHAPES[shape], off_diagonal.min())


def test_antialiased_edges():
    image = coverage(shapes.render([[3, 0, 5, 1, 5, 5]]))[0]
    edge = (image > 0) & (image < 1)
    assert edge.sum() > 20  # partial coverage along the outline, not a hard 0/1 mask


def test_deterministic_for_a_seed_and_combos_differ():
    a_images, a_factors = shapes.generate(400, seed=3)
    b_images, b_factors = shapes.generate(400, seed=3)
    assert np.array_equal(a_images, b_images) and np.array_equal(a_factors, b_factors)
    assert not np.array_equal(shapes.sample_factors(400, seed=4), a_factors)
    # distinct factor rows, distinct images
    assert len(np.unique(a_factors, axis=0)) == 400
    assert len(np.unique(a_images.reshape(400, -1), axis=0)) == 400


def test_factor_grid():
    full = shapes.sample_factors(shapes.GRID_SIZE)
    assert shapes.GRID_SIZE == 4 * 6 * 6 * 10 * 10 * 10
    assert len(np.unique(full, axis=0)) == shapes.GRID_SIZE
    sample = shapes.sample_factors(5000)
    for column, n_values in enumerate(shapes.FACTOR_SIZES):  # every value of every factor is drawn
        assert set(np.unique(sample[:, column])) == set(range(n_values))
    with pytest.raises(ValueError, match="full grid of 144,000"):
        shapes.sample_factors(shapes.GRID_SIZE + 1)


# --- the Dataset --------------------------------------------------------------------------
def test_load_shapes_dataset(monkeypatch):
    ds = data.load_dataset("shapes:600")
    assert ds.name == "shapes:600" and ds.input_shape == [3, 64, 64] and len(ds.x) == 600
    assert ds.x.dtype == np.float32 and ds.x[:5].dtype == np.float32
    batch = ds.x[ds.test_idx]
    assert batch.shape == (120, 3, 64, 64) and batch.min() == 0 and batch.max() == 1
    assert ds.factor_names == ["shape", "colour", "scale", "rotation", "x", "y"]
    assert ds.factors.shape == (600, 6) and np.array_equal(ds.y, ds.factors[:, 0])
    assert ds.classes == ["square", "ellipse", "triangle", "heart"]
    assert np.array_equal(np.asarray(ds.x), shapes.render(ds.factors) / np.float32(255))
    assert ds.describe()["factor_names"] == ds.factor_names
    shape, colour, scale, rotation, x, y = ds.factors[4]
    assert ds.factor_text(4) == (f"shape {shapes.SHAPES[shape]} · colour {shapes.COLOURS[colour]} · "
                                 f"scale {2 * shapes.RADII[scale]:.0f} px · rotation step {rotation} · "
                                 f"x {shapes.POSITIONS[x]} · y {shapes.POSITIONS[y]}")
    # the second load reads the cache: nothing is rendered
    monkeypatch.setattr(shapes, "render", lambda *a, **k: pytest.fail("rendered again"))
    again = data.load_dataset("shapes:600")
    assert again.identity == ds.identity and np.array_equal(again.x[:50], ds.x[:50])
    assert isinstance(again.x, np.ndarray)  # 600 images are small: floats up front


def test_a_large_store_stays_uint8_and_memory_mapped(monkeypatch):
    monkeypatch.setattr(data, "EAGER_FLOAT_BYTES", 0)  # as if 300 images were many
    ds = data.load_dataset("shapes:300")
    ds = data.load_dataset("shapes:300")  # from the cache
    assert isinstance(ds.x, data.UnitImages) and isinstance(ds.x.pixels, np.memmap)
    assert len(ds.x) == 300 and ds.x.shape == (300, 3, 64, 64) and ds.x.dtype == np.float32 and ds.x.ndim == 4
    expected = shapes.render(ds.factors) / np.float32(255)
    assert ds.x[7].shape == (3, 64, 64) and np.array_equal(ds.x[7], expected[7])
    x_test, y_test = ds.split("test")
    assert x_test.dtype == np.float32 and np.array_equal(x_test, expected[ds.test_idx])
    assert np.array_equal(ds.x[:, 1, 5:9], expected[:, 1, 5:9])
    assert np.array_equal(np.asarray(ds.x), expected)
    with pytest.raises(ValueError, match="cannot be viewed without a copy"):
        np.asarray(ds.x, copy=False)
    assert ds.identity.startswith("shapes:300-")  # from the cache key: x is not hashed


def test_default_and_full_sizes_by_name():
    assert dataset_spec.parse_shapes_name("shapes") == 50_000
    assert dataset_spec.parse_shapes_name("shapes:full") == shapes.GRID_SIZE
    for bad in ("shapes:0", "shapes:abc", "shapes:144001"):
        with pytest.raises(DatasetError, match="must be a whole number from 1 to the full grid of 144,000"):
            data.load_dataset(bad)


def test_other_datasets_carry_no_factors(digits):
    assert digits.factors is None and digits.factor_names == [] and digits.factor_text(0) == ""
    assert "factor_names" not in digits.describe()
