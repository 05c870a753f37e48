"""A store opened in the app (issue 23): the dataset it becomes (codes read, images fetched by
reference, never whole), the messages for a store of another model, a damaged one and one whose
images lie outside the allowed folders, the map's helpers for many points, and the pages on a
store in Streamlit's simulated browser. One small store (conftest's ``small_store``: 300 shapes,
shapes-vae, 3 blocks) serves the whole file."""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from explorer import dataset_spec, map_points, projection, store_dataset
from explorer.bulk import EncodeConfig, encode_to_store
from explorer.data import DatasetError
from explorer.sources import open_model
from explorer.store import open_store
from explorer.store_format import block_path
from explorer.ui import map_jobs, map_plotly

ROOT = Path(__file__).resolve().parents[1]
DATASET_PATH = "folder or .npz path"  # the sidebar's choice that reads a typed path (a store's too)


def allow_all(path: Path) -> bool:
    return True


def test_a_store_is_a_dataset_whose_images_come_by_reference(small_store, monkeypatch):
    spec = dataset_spec.parse(str(small_store))
    assert spec.kind == "store"
    before = spec.signature()
    os.utime(block_path(small_store, 2), ns=(1, 1))  # a rewritten block changes what the dataset is kept under
    assert spec.signature() != before
    dataset = store_dataset.load_store(small_store, allow_all)
    store = dataset.store
    assert len(dataset.x) == 300 and dataset.x.shape == (300, 3, 64, 64) and dataset.input_shape == [3, 64, 64]
    np.testing.assert_array_equal(dataset.x[[0, 299]], store.images([0, 299]))
    np.testing.assert_array_equal(dataset.x[7], store.images([7])[0])
    assert dataset.x[5:5].shape == (0, 3, 64, 64)
    np.testing.assert_array_equal(dataset.y, store.y)
    np.testing.assert_array_equal(dataset.factors, store.factors)
    assert dataset.classes == store.classes and dataset.factor_names == store.factor_names
    assert (len(dataset.train_idx), len(dataset.test_idx)) == (240, 60)
    assert dataset.codes_for(store.manifest.model.content_hash).codes is store.codes  # read, not recomputed
    with pytest.raises(DatasetError, match="not of this model"):
        dataset.codes_for("another model's hash")
    monkeypatch.setattr(store_dataset, "MAX_FETCH", 100)  # never many images at once, never all of them
    with pytest.raises(DatasetError, match="101 images asked of a store at once"):
        dataset.x[:101]
    with pytest.raises(DatasetError, match="never loaded whole"):
        np.asarray(dataset.x)


def test_a_store_of_another_model_or_damaged_says_what_is_wrong(small_store, tmp_path):
    dataset = store_dataset.load_store(small_store, allow_all)
    with pytest.raises(DatasetError) as refused:
        store_dataset.check_model(dataset, open_model(ROOT / "checkpoints" / "shapes-beta-vae"))
    assert ("shapes-300 was encoded with shapes-vae" in str(refused.value)
            and "not with the active model shapes-beta-vae" in str(refused.value)), refused.value
    store_dataset.check_model(dataset, open_model(ROOT / "checkpoints" / "shapes-vae"))  # its own model: no error

    damaged = tmp_path / "damaged"
    shutil.copytree(small_store, damaged)
    block = block_path(damaged, 1)
    block.write_bytes(block.read_bytes()[:200])  # truncated
    opened = store_dataset.load_store(damaged, allow_all)
    assert len(opened.x) == 200
    text = store_dataset.problems_text(opened.store)
    assert text.startswith("1 of the store's 3 blocks could not be read") and "(200 of 300 are here)" in text, text
    assert "blocks/block-000001.parquet cannot be read" in text and "run the same encode command again" in text, text
    for number in (0, 2):
        block_path(damaged, number).unlink()
    with pytest.raises(DatasetError, match="no block could be read"):
        store_dataset.load_store(damaged, allow_all)


def test_a_store_of_a_folder_outside_the_allowed_folders_is_refused_without_naming_it(tmp_path):
    folder = tmp_path / "outside" / "pictures"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / f"p{k}.png")
    store = tmp_path / "store"
    encode_to_store(ROOT / "checkpoints" / "shapes-vae", str(folder), store, EncodeConfig(block_size=3, progress=False))
    with pytest.raises(DatasetError) as refused:
        store_dataset.load_store(store, lambda path: False)
    assert "read from a folder outside the folders this app may read" in str(refused.value)
    assert str(tmp_path) not in str(refused.value)
    opened = store_dataset.load_store(store, allow_all)
    np.testing.assert_array_equal(opened.x[[2]], open_store(store).images([2]))


def test_the_maps_nearest_images_of_a_store_are_its_thumbnails(small_store):
    store = open_store(small_store)
    assert store_dataset.thumbnail_shape(store) == (3, 32, 32)
    pixels = store_dataset.thumbnail_pixels(store, 95, 105)  # across two blocks
    assert pixels.shape == (10, 3, 32, 32) and pixels.dtype == np.uint8
    for k, png in enumerate(store.thumbnails(np.arange(95, 105))):
        np.testing.assert_array_equal(np.moveaxis(pixels[k], 0, 2), np.asarray(Image.open(io.BytesIO(png))))


def test_many_points_selection_summary_sample_note_and_plotly_sample():
    errors = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    text = map_points.selection_summary([0, 1, 3], errors, np.array([0, 0, 1, 2]), ["a", "b", "c"])
    assert text.startswith("Reconstruction error: mean 0.2333, median 0.2000") and "Labels: a 67%, c 33%." in text, text
    assert map_points.selection_summary([], errors) == ""
    fitted = SimpleNamespace(sample=np.arange(100), projection=SimpleNamespace(label="t-SNE"))
    assert map_jobs.sample_note(fitted, 1000) == ("t-SNE of 1,000 codes: fitted on a sample of 100 (stratified by "
                                                  "label where there are labels), the other 900 placed in it with "
                                                  "transform.")
    assert map_jobs.sample_note(SimpleNamespace(sample=np.arange(5), projection=None), 5) is None
    drawn = map_plotly.drawn_points(map_plotly.MAX_POINTS * 3 + 1)
    assert len(drawn) == map_plotly.MAX_POINTS and drawn[0] == 0 and drawn[-1] == map_plotly.MAX_POINTS * 3
    np.testing.assert_array_equal(map_plotly.drawn_points(10), np.arange(10))


def test_pages_on_a_store(small_store, open_app, monkeypatch):
    """The Map maps the store's codes through project_large and shows a selection's summary and
    gallery; Interpolate fetches its two images by reference; Compare says why it does not run."""
    monkeypatch.setenv("LATENT_EXPLORER_ROOTS", str(small_store.parent))
    at = open_app("map", 120, ckpt="shapes-vae", data=DATASET_PATH, data_path=str(small_store), sel="0-149")
    assert not at.error, [e.value for e in at.error]
    assert any(c.value.startswith("A store: 300 images of shapes:300 encoded with shapes-vae") for c in at.sidebar.caption)
    assert any(m.value.startswith("**150 images selected**; 64 of them") for m in at.markdown)
    assert any(c.value.startswith("Reconstruction error: mean") and "Labels: " in c.value for c in at.caption)
    assert len(at.image) >= 1 and len(at.image[0].proto.imgs) == 64
    dataset = store_dataset.load_store(small_store, allow_all)
    key_parts = (dataset.store.manifest.model.content_hash, dataset.identity)
    assert projection.is_large_cached(dataset.store.codes, "pca", cache_key_parts=key_parts)  # mapped by project_large

    at.switch_page("explorer/ui/pages/interpolate.py").run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert len(at.image) >= 1
    at.switch_page("explorer/ui/pages/compare.py").run()
    assert not at.exception
    assert any("a store's images are fetched by reference" in i.value for i in at.info), [i.value for i in at.info]

    other = open_app("map", 120, ckpt="shapes-beta-vae", data=DATASET_PATH, data_path=str(small_store))
    assert any("was encoded with shapes-vae (content hash" in e.value and "not with the active model shapes-beta-vae"
               in e.value for e in other.sidebar.error), [e.value for e in other.sidebar.error]
