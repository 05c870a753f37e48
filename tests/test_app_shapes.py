"""Pages on a shapes checkpoint, where the dataset has ground-truth factors: Sliders names each
dimension by its factor and draws the dimension x factor matrix, Compare shows the recorded
disentanglement scores beside PCA's median, Arithmetic builds a vector from two values of one factor."""
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


def test_compare_shows_the_recorded_disentanglement_beside_pcas_median_once(open_app):
    """PCA's row once, however many models recorded it (it was repeated after each), as the median
    of its five fits with their range and the target a disentangling model is held to."""
    at = open_app("compare", 240, via_map=False, ckpt=["shapes-vae", "shapes-beta-vae", "shapes-beta-tcvae"],
                  data=DATASET_PATH, data_path=DATA)
    assert not at.error, [e.value for e in at.error]
    tables = [frame.value for frame in at.dataframe]
    scores = next(t for t in tables if "mig" in t.columns)
    assert list(scores["model"]) == ["shapes-vae", "shapes-beta-vae", "shapes-beta-tcvae", "PCA (k=10), median of 5 fits"]
    assert scores[["mig", "dci_disentanglement", "sap"]].notna().all().all()
    assert list(scores["mig"]) == [0.026, 0.108, 0.138, 0.057]
    assert list(scores["mig_vs_pca"]) == [0.46, 1.9, 2.45, 1.0]
    (caption,) = [c.value for c in at.caption if c.value.startswith("PCA (k=10), median of 5 fits")]
    assert "Over the 5 fits: MIG 0.033–0.124" in caption and "SAP 0.017–0.079" in caption, caption
    assert "at least 3× PCA's median (0.170 here) and 2× the plain VAE's" in caption, caption


def test_arithmetic_from_two_values_of_a_factor(open_page):
    at = open_page("arithmetic", arithmetic_groups="two values of one factor", arithmetic_factor="scale")
    assert [s.label for s in at.selectbox][:3] == ["Factor", "Value A: towards", "Value B: away from"]
    assert any("scale 28 px" in c.value and "scale 13 px" in c.value for c in at.caption), [c.value for c in at.caption]
    assert len(at.image) >= 2
