"""The first hour on a fresh clone, in Streamlit's simulated browser (issue 22): the README's export
opens from the sidebar's path box, the active model is named once, Compare gives each row its
own name and never shows "-0.000", Anomaly says why there is no ROC and offers the model that
has one, and a folder that digit preprocessing refuses says so and offers plain preprocessing."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from benchmarks import upload_images
from explorer import formatting, quality
from explorer.ui.paths import WHERE_PATHS_MAY_POINT

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def start(page: str, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(data="mnist", **params)
    at.switch_page(f"explorer/ui/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def typed_path(at: AppTest, text: str) -> AppTest:
    at.sidebar.text_input(key="ckpt_path").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def all_text(at: AppTest) -> list[str]:
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "metric", "subheader")
    return [str(getattr(e, "value", "")) for kind in kinds for e in at.get(kind)]


def test_the_exported_folder_is_ignored_by_git_and_the_path_box_says_where_paths_may_point(readme_export):
    ignored = subprocess.run(["git", "check-ignore", "-q", str(readme_export / "encoder.onnx")], cwd=ROOT)
    assert ignored.returncode == 0, "exported/ would be committed"
    at = start("sample", ckpt="mnist-vae")
    assert WHERE_PATHS_MAY_POINT in [c.value for c in at.sidebar.caption]
    assert "exported/" in WHERE_PATHS_MAY_POINT and "checkpoints/" in WHERE_PATHS_MAY_POINT


def test_the_readmes_export_opens_from_the_path_box_and_is_the_one_active_model(readme_export):
    at = start("sample", ckpt="mnist-vae")
    assert at.sidebar.multiselect[0].label == "Checkpoints"
    assert [c.value for c in at.sidebar.caption if c.value.startswith("Active model")] == ["Active model"]
    typed_path(at, "exported/mnist-vae")  # as the README writes it, relative to the app
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]
    # Named once, in the card; the list above it now reads as what the own model is compared with.
    assert [c.value for c in at.sidebar.caption if c.value.startswith("Active model")] == ["Active model: your own"]
    assert at.sidebar.multiselect[0].label == "Compared with it" and at.sidebar.multiselect[0].value == ["mnist-vae"]
    card = " ".join(c.value for c in at.sidebar.caption)
    assert "source: ONNX folder `mnist-vae`" in card, card
    assert "**mnist-vae**" in [m.value for m in at.sidebar.markdown]
    assert at.main.image and not at.main.error, "the page ran with the exported model"


def names_in(at: AppTest) -> dict[str, list[str]]:
    """The name column of every table on the page."""
    found = {}
    for frame in at.dataframe:
        table = frame.value
        for column in ("model", "checkpoint", "representation"):
            if column in table.columns:
                found[column] = list(table[column])
    return found


def test_compare_gives_an_export_and_its_native_twin_a_name_each(readme_export):
    at = start("compare", ckpt="mnist-vae")
    typed_path(at, "exported/mnist-vae")
    tables = names_in(at)
    assert tables["model"][:2] == ["mnist-vae · onnx", "mnist-vae · native"], tables
    assert tables["checkpoint"] == ["mnist-vae · onnx", "mnist-vae · native"]
    headings = [m.value for m in at.main.markdown if m.value.startswith("**mnist-vae")]
    assert len(headings) == 2 and len({h.split("**")[1] for h in headings}) == 2, headings
    for names in tables.values():
        assert len(names) == len(set(names)), names


def test_compare_never_shows_negative_zero(readme_export, monkeypatch):
    """A k-means ARI of -0.0003 once showed as "-0.000"."""
    real = quality.clustering_scores
    monkeypatch.setattr(quality, "clustering_scores", lambda codes, labels, seed=0: (real(codes, labels, seed)[0], -0.0003))
    at = start("compare", ckpt="mnist-vae")
    typed_path(at, "exported/mnist-vae")
    at.radio(key="compare_view").set_value("representation").run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [f.value for f in at.dataframe]
    assert list(table["representation"]) == ["mnist-vae · onnx", "mnist-vae · native", "PCA (k=16)", "raw pixels"]
    ari = table["k-means ARI"].to_numpy()
    assert (ari == 0).all() and not np.signbit(ari).any(), ari  # 0.0, never -0.0 nor -0.0003 shown as -0.000
    for column in table.select_dtypes("number"):
        assert not any(formatting.fixed(v).startswith("-0.000") or str(v) == "-0.0" for v in table[column]), column
    assert not any("-0.000" in text for text in all_text(at))


def test_anomaly_says_why_there_is_no_roc_and_offers_the_model_that_has_one():
    at = start("anomaly", ckpt="mnist-vae")
    (why,) = [i.value for i in at.main.info if i.value.startswith("No ROC curve")]
    assert "mnist-vae was trained on every class" in why and "mnist-anomaly-ae never saw a 2" in why, why
    assert not any("Finding the held-out class" in s.value for s in at.subheader)
    at.button(key="use_anomaly_model").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "**mnist-anomaly-ae**" in [m.value for m in at.sidebar.markdown]
    assert any(s.value == "Finding the held-out class 2" for s in at.subheader)
    assert not any(i.value.startswith("No ROC curve") for i in at.main.info)


@pytest.fixture
def photo_folder(roots) -> Path:
    """Six colour photos of landscapes: readable pictures, none of them a digit."""
    folder = roots[0] / "photos"
    folder.mkdir()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        (folder / f"landscape-{seed}.jpg").write_bytes(upload_images.encoded(upload_images.landscape(rng), rng))
    return folder


def test_a_folder_of_photos_refused_as_digits_says_so_and_offers_plain_preprocessing(photo_folder):
    at = start("sample", ckpt="mnist-vae")
    at.sidebar.selectbox(key="data").set_value("folder or .npz path").run()
    at.sidebar.text_input(key="data_path").input(str(photo_folder)).run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [e.value for e in at.sidebar.error]
    assert "digit preprocessing refused all of the 6 images" in error and "plain preprocessing reads them" in error
    assert "upload a picture" not in error, error  # a folder is not an upload
    assert [i.value for i in at.main.info] == ["The dataset picked in the sidebar could not be opened: the sidebar "
                                               "says why."]
    assert not at.get("progress"), "a full progress bar was left behind"
    assert any("digit (gray, inverted" in c.value for c in at.sidebar.caption)

    at.sidebar.button(key="read_plainly").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert at.sidebar.selectbox(key="prep").value == "plain"
    # A 1-channel model reads them gray: the caption no longer claims the colour is kept.
    (caption,) = [c.value for c in at.sidebar.caption if c.value.startswith("Files are read as")]
    assert caption == "Files are read as 1×28×28, plain (turned gray, shorter side resized, centre crop).", caption
    assert not at.main.info and at.image, "the page runs on the photos"


def test_raw_pixels_of_large_images_are_measured_when_asked_for_then_kept(monkeypatch):
    """Compare's representation view: raw pixels of large images (64x64 colour: 45 s on 2 cores)
    wait for a click; once measured they are kept by data content and shown to the next visit."""
    monkeypatch.setattr(quality, "PIXELS_ON_REQUEST_ABOVE", 100)  # MNIST's 784 values count as large here
    at = start("compare", ckpt="mnist-vae")
    at.radio(key="compare_view").set_value("representation").run()
    (table,) = [f.value for f in at.dataframe]
    assert list(table["representation"]) == ["mnist-vae", "PCA (k=16)"]
    assert any(c.value.startswith("Raw pixels (784 values per image) are measured when asked for") for c in at.caption)
    assert any(c.value.startswith("On all 4,000 training and 1,000 test images") for c in at.caption)
    at.button(key="measure_pixels").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [f.value for f in at.dataframe]
    assert list(table["representation"]) == ["mnist-vae", "PCA (k=16)", "raw pixels"]
    again = start("compare", ckpt="mnist-vae")  # another session, the same cache
    again.radio(key="compare_view").set_value("representation").run()
    (table,) = [f.value for f in again.dataframe]
    assert list(table["representation"])[-1] == "raw pixels" and "measure_pixels" not in [b.key for b in again.button]
