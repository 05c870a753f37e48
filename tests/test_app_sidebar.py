"""The sidebar: seeded from the link once, then kept while moving between pages."""
from __future__ import annotations

import json
from pathlib import Path

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
    at.switch_page("explorer/ui/sliders.py").run()
    assert not at.exception
    assert at.sidebar.multiselect[0].value == picked and len(picked) == 2
    assert active_model(at) == "**mnist-conv-ae**"
    assert at.query_params["ckpt"] == ["mnist-conv-ae", "mnist-ae"]  # the link is whole again, in order


def test_model_card_names_type_latent_size_and_test_mse():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(ckpt="mnist-vae-2d", data="mnist")
    at.run()
    card = " ".join(c.value for c in at.sidebar.caption)
    recorded = json.loads((Path(APP).parent / "checkpoints" / "mnist-vae-2d" / "config.json").read_text())
    test_mse = recorded["training"]["test_mse"]
    assert "type `vae`" in card and "latent **2**" in card and f"test MSE {test_mse:.4f}" in card and "CPU" in card
