"""Pages on a shapes checkpoint, where the dataset has ground-truth factors: Sliders names each
dimension by its factor and draws the dimension x factor matrix, Compare shows the recorded
disentanglement scores, Arithmetic builds a vector from two values of one factor."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

DATA = "shapes:2000"  # a small draw of the same generator (typed as a path) keeps the encoding quick
DATASET_PATH = "folder or .npz path"  # the sidebar's dataset choice that reads the typed path


@pytest.fixture
def open_page(open_app):
    """``open_page(page, **query_params)``: ``page`` opened directly with shapes-vae on a small draw
    of shapes, with no error shown."""
    def open_(page: str, **params) -> AppTest:
        at = open_app(page, 120, via_map=False, ckpt="shapes-vae", data=DATASET_PATH, data_path=DATA, **params)
        assert not at.error, [e.value for e in at.error]
        return at

    return open_


def test_sliders_name_dimensions_by_factor_and_show_the_information_matrix(open_page):
    at = open_page("sliders")
    factors = ("shape", "colour", "scale", "rotation", "x", "y")
    labels = [s.label for s in at.slider]
    assert len(labels) == 10
    assert all(label.split(" · ")[1] in factors and " · MI " in label and " · KL " in label for label in labels), labels
    assert any(chart.proto.spec and "heatmap" in chart.proto.spec for chart in at.get("plotly_chart"))


def test_compare_shows_the_recorded_disentanglement_beside_pca(open_page):
    at = open_page("compare")
    tables = [frame.value for frame in at.dataframe]
    scores = next(t for t in tables if "mig" in t.columns)
    assert list(scores["model"]) == ["shapes-vae", "PCA (k=10)"]
    assert scores[["mig", "dci_disentanglement", "sap"]].notna().all().all()


def test_arithmetic_from_two_values_of_a_factor(open_page):
    at = open_page("arithmetic", arithmetic_groups="two values of one factor", arithmetic_factor="scale")
    assert [s.label for s in at.selectbox][:3] == ["Factor", "Value A: towards", "Value B: away from"]
    assert any("scale 28 px" in c.value and "scale 13 px" in c.value for c in at.caption), [c.value for c in at.caption]
    assert len(at.image) >= 2
