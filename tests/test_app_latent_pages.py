"""The Interpolate, Sample, Arithmetic and Sliders pages in Streamlit's simulated browser.

Images are compared by their pixels: every image an ``st.image`` sends goes through the media
file storage, which records the bytes here, and the test decodes what the browser would get.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from explorer.models import MODEL_TYPES
from explorer.ui import engine_cache

ROOT = Path(__file__).resolve().parents[1]

PAGES = ["interpolate", "sample", "arithmetic", "sliders"]
# the dataset each shipped family is shown on (shapes: a small draw of the generator, typed as a path)
FAMILY_DATA = {"mnist": {"data": "mnist"}, "shapes": {"data": "folder or .npz path", "data_path": "shapes:2000"}}


@pytest.fixture
def media(monkeypatch) -> dict[str, bytes]:
    """file id -> bytes of every media file the app stores (images and downloads)."""
    stored: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        stored[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return stored


@pytest.fixture
def open_page(open_app):
    """``open_page(page, ckpt="mnist-ae", **query_params)``: ``page`` opened directly on MNIST, with
    no error shown."""
    def open_(page: str, ckpt: str = "mnist-ae", **params) -> AppTest:
        at = open_app(page, 60, via_map=False, ckpt=ckpt, data="mnist", **params)
        assert_clean(at)
        return at

    return open_


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def pixels(media: dict[str, bytes], element) -> list[np.ndarray]:
    """The decoded pictures of one st.image element (one per image it holds)."""
    ids = [url.rsplit("/", 1)[-1].split(".")[0] for url in element.value]
    return [np.asarray(Image.open(io.BytesIO(media[i])).convert("L"), dtype=np.int16) for i in ids]


def image_captioned(at: AppTest, text: str):
    found = [element for element in at.image if any(text in c for c in element.captions)]
    assert len(found) == 1, [element.captions for element in at.image]
    return found[0]


def widget(widgets, label: str):
    found = [w for w in widgets if w.label == label]
    assert len(found) == 1, [w.label for w in widgets]
    return found[0]


def array(value) -> np.ndarray:
    """A plotly trace's data array: a list, or typed-array JSON ({"dtype", "bdata": base64})."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def differ(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) != len(b) or any(x.shape != y.shape or np.abs(x - y).max() > 8 for x, y in zip(a, b))


# --- every page on every shipped checkpoint -----------------------------------------------------
@pytest.mark.parametrize("model", engine_cache.shipped_models(), ids=lambda m: m.name)
def test_pages_render_on_every_shipped_checkpoint(model):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(ckpt=model.name, **FAMILY_DATA[model.name.split("-")[0]])
    for page in PAGES:
        at.switch_page(f"explorer/ui/pages/{page}.py").run()
        assert_clean(at)
        assert not at.warning, (page, [w.value for w in at.warning])
        assert at.title[0].value.endswith(page.capitalize()), page
        assert len(at.image) >= 1, page
    # the prior is offered, and is the default, only where the model was trained towards it
    variational = MODEL_TYPES[model.model_type].is_variational
    assert (widget(at.selectbox, "Slider ranges").value == "prior") == variational
    at.switch_page("explorer/ui/pages/sample.py").run()
    assert (widget(at.selectbox, "Sampler").value == "prior") == variational


# --- every setting is kept in the link ---------------------------------------------------------
LINKED = {  # page -> the query parameters its settings are bound to (the sidebar's come on top)
    "interpolate": {"interpolate_pts", "interpolate_idx", "interpolate_how", "interpolate_steps"},
    "sample": {"sample_sampler", "sample_k", "sample_t", "sample_seed", "sample_n"},
    "arithmetic": {"arithmetic_groups", "arithmetic_a", "arithmetic_b", "arithmetic_to", "arithmetic_alpha",
                   "arithmetic_rows", "arithmetic_qa", "arithmetic_qb", "arithmetic_qc"},
    "sliders": {"sliders_i", "sliders_range", "sliders_rows", "sliders_cols"},
}


@pytest.mark.parametrize("page", PAGES)
def test_every_setting_is_bound_to_the_link(open_page, page):
    """Streamlit writes a bound widget's value into the URL and seeds it from there, and keeps it
    across page switches: a view is shareable by its link."""
    at = open_page(page)
    keys = {w.proto.query_param_key for kind in ("radio", "selectbox", "multiselect", "number_input", "slider",
                                                  "text_input", "checkbox") for w in at.get(kind)} - {""}
    assert keys == LINKED[page] | {"ckpt", "ckpt_path", "ckpt_bottleneck", "data"}


# --- each page's main control changes what it shows ---------------------------------------------
def test_interpolate_steps_and_method_change_the_strip(open_page, media):
    at = open_page("interpolate", interpolate_idx="9, 2500")
    linear = pixels(media, image_captioned(at, "path,"))

    widget(at.slider, "Steps per leg").set_value(12).run()
    assert_clean(at)
    longer = pixels(media, image_captioned(at, "path,"))
    assert longer[0].shape[0] == linear[0].shape[0] and longer[0].shape[1] > linear[0].shape[1]

    widget(at.radio, "Method").set_value("slerp").run()
    assert_clean(at)
    spherical = pixels(media, image_captioned(at, "path,"))
    assert spherical[0].shape == longer[0].shape and differ(spherical, longer)

    # the path is drawn over the map: 12 steps on one leg plus the end point
    (chart,) = at.get("plotly_chart")
    traces = {trace.get("name"): trace for trace in json.loads(chart.proto.spec)["data"]}
    assert len(array(traces["path"]["x"])) == 13 and len(array(traces["waypoints"]["x"])) == 2


def test_interpolate_explains_bad_indices():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(ckpt="mnist-ae", data="mnist", interpolate_idx="9, 99999")
    at.switch_page("explorer/ui/pages/interpolate.py").run()
    assert not at.exception
    assert "no image 99999" in at.error[0].value


def test_sample_seed_and_count_change_the_samples(open_page, media):
    at = open_page("sample", sample_seed="3")
    seed = widget(at.number_input, "Seed")
    assert seed.value == 3  # read from the link
    # a plain autoencoder has no prior to sample from
    assert "prior" not in widget(at.selectbox, "Sampler").options
    first = pixels(media, at.image[0])
    assert len(first) == 16

    seed.set_value(4).run()
    assert_clean(at)
    second = pixels(media, at.image[0])
    assert len(second) == 16 and differ(first, second)

    widget(at.number_input, "How many").set_value(5).run()
    assert len(pixels(media, at.image[0])) == 5


def test_sample_mixture_samples_differ_from_the_gaussian(open_page, media):
    at = open_page("sample")
    gaussian = pixels(media, at.image[0])
    widget(at.selectbox, "Sampler").set_value("mixture").run()
    assert_clean(at)
    assert differ(gaussian, pixels(media, at.image[0]))


def attribute_rows(at: AppTest, media) -> list[np.ndarray]:
    return [p for element in at.image if not any("a − b + c" in c for c in element.captions)
            for p in pixels(media, element)]


def test_arithmetic_alpha_range_and_labels_change_the_rows(open_page, media):
    at = open_page("arithmetic")
    rows = attribute_rows(at, media)
    assert len(rows) == 5  # one picture per value of alpha

    widget(at.slider, "Strength α from … to").set_value((-2.0, 0.0)).run()
    assert_clean(at)
    weaker = attribute_rows(at, media)
    # the last row is alpha = 0 now, the first row before: both are the plain reconstructions
    assert not differ([weaker[-1]], [rows[0]])
    assert differ(weaker, rows)

    widget(at.selectbox, "Group A: towards").set_value("7").run()
    assert_clean(at)
    assert differ(attribute_rows(at, media), weaker)


def test_arithmetic_analogy_follows_its_pickers(open_page, media):
    at = open_page("arithmetic")
    before = pixels(media, image_captioned(at, "a − b + c"))
    widget(at.number_input, "b (dataset index)").set_value(4321).run()
    assert_clean(at)
    after = pixels(media, image_captioned(at, "a − b + c"))
    assert not differ(before[:1], after[:1]) and differ(before[1:], after[1:])


def test_arithmetic_empty_group_says_so(open_page):
    at = open_page("arithmetic", arithmetic_groups="two saved map selections")
    assert any("Group A and Group B are empty" in w.value for w in at.warning)


def test_sliders_move_the_decoded_image_and_reset(open_page, media):
    at = open_page("sliders", sliders_i="123")
    top = at.slider[0]
    importances = [float(s.label.rsplit(" ", 1)[-1]) for s in at.slider[:8]]
    assert importances == sorted(importances, reverse=True)
    start = pixels(media, image_captioned(at, "Decoded from the sliders"))

    top.set_value(top.max if top.value < (top.min + top.max) / 2 else top.min).run()
    assert_clean(at)
    moved = pixels(media, image_captioned(at, "Decoded from the sliders"))
    assert differ(start, moved)

    widget(at.button, "Reset to the sample's code").click().run()
    assert_clean(at)
    assert not differ(start, pixels(media, image_captioned(at, "Decoded from the sliders")))


def test_sliders_traversal_grid_follows_rows_and_columns(open_page, media):
    at = open_page("sliders", sliders_rows="3", sliders_cols="5")
    (grid,) = pixels(media, image_captioned(at, "Rows, top to bottom"))
    widget(at.number_input, "Traversal columns").set_value(7).run()
    (wider,) = pixels(media, image_captioned(at, "Rows, top to bottom"))
    assert wider.shape[0] == grid.shape[0] and wider.shape[1] > grid.shape[1]


# --- what the Map and Upload pages hand over ------------------------------------------------------
def select_on_map(at: AppTest, indices: list[int]) -> None:
    """What the Map page stores when points are selected on it."""
    at.session_state["selection"] = indices
    at.session_state["selection_dataset"] = at.session_state["context"].dataset.identity


def test_interpolate_through_the_map_selection_and_the_upload(open_page, media):
    at = open_page("interpolate", interpolate_pts="the Map's selection")
    assert "Select points on the Map" in at.info[0].value

    select_on_map(at, [9, 1200, 2503])
    at.run()
    assert_clean(at)
    assert image_captioned(at, "1. #9").captions == ["1. #9 · 0", "2. #1200 · 2", "3. #2503 · 5"]

    at.session_state["upload_image"] = at.session_state["context"].dataset.x[4000]
    at.session_state["upload_name"] = "mine.png"
    at.run()
    widget(at.checkbox, "Start at the uploaded image (mine.png)").check().run()
    assert_clean(at)
    assert image_captioned(at, "1. upload").captions[:2] == ["1. upload: mine.png", "2. #9 · 0"]


def test_arithmetic_groups_from_saved_map_selections(open_page, media):
    at = open_page("arithmetic", arithmetic_groups="two saved map selections")
    select_on_map(at, list(range(0, 40)))
    at.run()
    widget(at.button, "Save it as group A").click().run()
    assert any("Group B is empty" in w.value for w in at.warning)

    select_on_map(at, list(range(3000, 3040)))
    at.run()
    widget(at.button, "Save it as group B").click().run()
    assert_clean(at)
    assert not at.warning
    assert "group A (40 images) − group B (40 images)" in " ".join(c.value for c in at.caption)
    assert len(attribute_rows(at, media)) == 5
