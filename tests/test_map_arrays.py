"""The map's data for the page (explorer/map_arrays.py): the packed format read back, colourings
binned as the page draws them, selections as bitmasks and as link text, the bounded store, and
the nearest-image blocks."""
from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest

from explorer import map_arrays
from explorer.map_arrays import Colouring, PackStore


def test_pack_round_trip_keeps_every_array_aligned():
    rng = np.random.default_rng(0)
    arrays = {"positions": rng.normal(size=(1001, 2)).astype(np.float32), "labels": rng.integers(0, 9, 1001).astype(np.uint8),
              "halves": rng.normal(size=(7, 3)).astype(np.float16), "big": np.arange(300, dtype=np.uint16)}
    blob = map_arrays.pack(arrays, {"method": "pca", "count": 1001})
    back, meta = map_arrays.unpack(blob)
    assert meta == {"method": "pca", "count": 1001}
    for name, array in arrays.items():
        np.testing.assert_array_equal(back[name], array)
        assert back[name].dtype == array.dtype
    # every array starts on an 8-byte boundary, as the page's typed-array views need
    header_len = int.from_bytes(blob[8:12], "little")
    import json
    header = json.loads(blob[12:12 + header_len])
    assert all(spec["offset"] % 8 == 0 for spec in header["arrays"].values())


def test_pack_refuses_what_the_page_cannot_read():
    with pytest.raises(ValueError, match="cannot be packed"):
        map_arrays.pack({"strings": np.array(["a", "b"])})
    with pytest.raises(ValueError, match="not a map data file"):
        map_arrays.unpack(b"PNG....")


def test_categories_keep_their_codes_and_colours():
    values, meta = Colouring("label", "label", np.array([0, 2, 1, 2]), ["a", "b", "c"], ["#111111", "#222222"]).encode()
    np.testing.assert_array_equal(values, [0, 2, 1, 2])
    assert values.dtype == np.uint8
    assert meta["kind"] == "category" and meta["names"] == ["a", "b", "c"]
    assert meta["palette"] == ["#111111", "#222222", "#111111"]  # the palette cycles, as Plotly's does
    many, meta = Colouring("id", "id", np.arange(300) % 300, [str(k) for k in range(300)]).encode()
    assert many.dtype == np.uint16 and many.max() == 299


def test_a_continuous_colouring_is_binned_with_a_grey_step_for_missing_values():
    values = np.array([0.0, 0.5, 1.0, np.nan, 0.25])
    bins, meta = Colouring("kept", "kept", values, palette=map_arrays.KEPT).encode()
    assert meta["kind"] == "scale" and meta["range"] == [0.0, 1.0]
    assert meta["palette"][0] == map_arrays.MISSING_COLOUR and len(meta["palette"]) == map_arrays.SCALE_STEPS + 1
    assert bins[3] == 0  # not measured: the grey step
    assert bins[0] == 1 and bins[2] == map_arrays.SCALE_STEPS  # the ends of the scale
    assert bins[4] < bins[1] < bins[2]
    # the steps run from the scale's first colour to its last
    assert meta["palette"][1] == map_arrays.KEPT[0].upper() and meta["palette"][-1] == map_arrays.KEPT[-1].upper()
    plain, meta = Colouring("error", "error", np.array([1.0, 3.0])).encode()
    assert meta["missing"] is None and list(plain) == [0, map_arrays.SCALE_STEPS - 1]


def test_selection_masks_and_link_text_round_trip():
    indices = np.array([0, 3, 9, 10, 11, 99])
    text = map_arrays.mask_from_indices(indices, 100)
    assert len(base64.b64decode(text)) == 13  # one bit per point
    np.testing.assert_array_equal(map_arrays.indices_from_mask(text, 100), indices)
    with pytest.raises(ValueError, match="does not fit a map of 50 points"):
        map_arrays.indices_from_mask(text, 50)
    assert map_arrays.indices_to_ranges(indices) == "0,3,9-11,99"
    np.testing.assert_array_equal(map_arrays.ranges_to_indices("0,3,9-11,99", 100), indices)
    assert map_arrays.indices_to_ranges([]) == ""
    assert len(map_arrays.indices_from_mask("", 100)) == 0  # "Clear selection" in the page
    with pytest.raises(ValueError, match="outside 0-99"):
        map_arrays.ranges_to_indices("5-100", 100)
    with pytest.raises(ValueError, match="not an index"):
        map_arrays.ranges_to_indices("1;2", 100)


def test_base_pack_sends_codes_as_halves_past_the_float32_budget(monkeypatch):
    codes = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    colourings = [Colouring("error", "error", np.linspace(0, 1, 50)),
                  Colouring("kept", "kept", np.full(50, np.nan), per_projection=True)]
    arrays, meta = map_arrays.unpack(map_arrays.base_pack(codes, colourings, 50))
    assert arrays["codes"].dtype == np.float32 and "colour_error" in arrays and "colour_kept" not in arrays
    assert [c["name"] for c in meta["colourings"]] == ["error", "kept"] and meta["count"] == 50
    monkeypatch.setattr(map_arrays, "CODES_FLOAT32_MAX", 100)
    arrays, _ = map_arrays.unpack(map_arrays.base_pack(codes, colourings, 50))
    assert arrays["codes"].dtype == np.float16
    np.testing.assert_allclose(arrays["codes"], codes, atol=2e-3)
    with pytest.raises(ValueError, match="49 codes for a map of 50"):
        map_arrays.base_pack(codes[:49], colourings, 50)


def test_projection_pack_checks_positions():
    arrays, meta = map_arrays.unpack(map_arrays.projection_pack("pca", "PCA", np.ones((5, 2)), {"mean": [0.0]}))
    assert arrays["positions"].dtype == np.float32 and meta["inverse"] == {"mean": [0.0]} and meta["count"] == 5
    with pytest.raises(ValueError, match="finite"):
        map_arrays.projection_pack("pca", "PCA", np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        map_arrays.projection_pack("pca", "PCA", np.ones((3, 3)))


def test_store_names_files_by_content_and_keeps_within_its_budget(tmp_path):
    store = PackStore(tmp_path / "data", max_bytes=2500)
    first = store.put(b"a" * 1000)
    assert store.put(b"a" * 1000) == first  # the same bytes: the same file, written once
    second = store.put(b"b" * 1000)
    third = store.put(b"c" * 1000)  # over the budget: the least recently used goes
    assert not store.has(first) and store.has(second) and store.has(third)
    assert (tmp_path / "data" / third).read_bytes() == b"c" * 1000


def test_image_blocks_hold_the_images_in_order(tmp_path):
    store = PackStore(tmp_path, max_bytes=1 << 30)
    images = np.random.default_rng(2).random((2500, 1, 28, 28)).astype(np.float32)
    asked = []

    def read(start, stop):
        asked.append((start, stop))
        return images[start:stop]

    map_arrays.write_image_blocks(store, "k", read, len(images))
    assert asked == [(0, 1024), (1024, 2048), (2048, 2500)]
    block = np.frombuffer(zlib.decompress((tmp_path / map_arrays.image_block_name("k", 2)).read_bytes()), np.uint8)
    expected = (images[2048:2500].clip(0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(block.reshape(expected.shape), expected)
    map_arrays.write_image_blocks(store, "k", read, len(images))
    assert len(asked) == 3  # written once
    # large colour images are shown at most 64 pixels a side, by a whole-number stride
    assert map_arrays.display_shape([3, 128, 100]) == [64, 50, 3]
    assert map_arrays.display_images(np.zeros((2, 3, 128, 100), np.float32)).shape == (2, 64, 50, 3)
