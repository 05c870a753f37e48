"""The sidebar: seeded from the link, then kept while moving between pages."""
from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1.element_tree import ElementTree
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def active_model(at: AppTest) -> str:
    return next(m.value for m in at.sidebar.markdown if m.value.startswith("**mnist-"))


def test_sidebar_choices_survive_a_page_switch_that_drops_the_link():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(ckpt=["mnist-conv-ae", "mnist-ae"], data="mnist")
    at.run()
    assert not at.exception
    assert active_model(at) == "**mnist-conv-ae**"
    picked = at.sidebar.multiselect[0].value

    at.query_params.clear()  # what a click in the page navigation does to the query string
    at.switch_page("explorer/ui/pages/sliders.py").run()
    assert not at.exception
    assert at.sidebar.multiselect[0].value == picked and len(picked) == 2
    assert active_model(at) == "**mnist-conv-ae**"
    # Streamlit keeps it in the link: the browser writes a bound widget's value into the URL
    bound = [at.sidebar.multiselect[0], at.sidebar.text_input[0], at.sidebar.selectbox[0]]
    assert [w.proto.query_param_key for w in bound] == ["ckpt", "ckpt_path", "data"]


def test_a_browser_that_has_not_mounted_the_sidebar_is_sent_its_values(monkeypatch):
    """Found by the load run: a browser that switches page before it has mounted the sidebar's
    widgets (their code loads lazily; seconds on a busy machine) sends no value for them. Unless
    the server sends its own along, the browser draws the widgets at their defaults and sends
    those back: the session loses its checkpoints."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.multiselect[0].set_value(["mnist-conv-ae", "mnist-ae"])
    at.sidebar.selectbox[0].set_value("digits").run()
    sidebar_ids = {w.id for w in (at.sidebar.multiselect[0], at.sidebar.selectbox[0])}
    real = ElementTree.get_widget_states

    def without_the_sidebar(tree):
        states = real(tree)
        kept = [w for w in states.widgets if w.id not in sidebar_ids]
        del states.widgets[:]
        states.widgets.extend(kept)
        return states

    monkeypatch.setattr(ElementTree, "get_widget_states", without_the_sidebar)
    at.switch_page("explorer/ui/pages/sliders.py").run()
    assert not at.exception
    picked, dataset = at.sidebar.multiselect[0], at.sidebar.selectbox[0]
    assert picked.proto.set_value and list(picked.proto.raw_values) == ["mnist-conv-ae", "mnist-ae"]
    assert dataset.proto.set_value and dataset.proto.raw_value == "digits"


def test_a_link_opens_the_view_it_names():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(ckpt=["mnist-ae", "mnist-vae-2d"], data="mnist", sample_seed="7", sample_n="5")
    at.run()
    at.switch_page("explorer/ui/pages/sample.py").run()
    assert not at.exception
    assert at.sidebar.multiselect[0].value == ["mnist-ae", "mnist-vae-2d"] and at.sidebar.selectbox[0].value == "mnist"
    assert [w.value for w in at.number_input if w.key in ("sample_seed", "sample_n")] == [7, 5]


def test_model_card_names_type_latent_size_and_test_mse():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(ckpt="mnist-vae-2d", data="mnist")
    at.run()
    card = " ".join(c.value for c in at.sidebar.caption)
    recorded = json.loads((Path(APP).parent / "checkpoints" / "mnist-vae-2d" / "config.json").read_text())
    test_mse = recorded["training"]["test_mse"]
    assert "type `vae`" in card and "latent **2**" in card and f"test MSE {test_mse:.4f}" in card and "CPU" in card
