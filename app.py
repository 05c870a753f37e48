"""Latent Explorer: streamlit run app.py  (your own PyTorch code: streamlit run app.py -- --model adapter.py)"""
from __future__ import annotations

import streamlit as st

from explorer import settings
from explorer.checkpoint import CheckpointError
from explorer.data import DatasetError
from explorer.ui import heap, login, map_jobs, session, sidebar

# The tab icon is an emoji, drawn by the browser: a ":material/...:" page icon makes every page load fetch
# the favicon from fonts.gstatic.com (the icons in the navigation come from the bundled font).
st.set_page_config(page_title="Latent Explorer", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("explorer/ui/pages/map.py", title="Map", icon=":material/map:", url_path="home", default=True),
    st.Page("explorer/ui/pages/interpolate.py", title="Interpolate", icon=":material/swap_horiz:", url_path="interpolate"),
    st.Page("explorer/ui/pages/sample.py", title="Sample", icon=":material/casino:", url_path="sample"),
    st.Page("explorer/ui/pages/arithmetic.py", title="Arithmetic", icon=":material/calculate:", url_path="arithmetic"),
    st.Page("explorer/ui/pages/sliders.py", title="Sliders", icon=":material/tune:", url_path="sliders"),
    st.Page("explorer/ui/pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page("explorer/ui/pages/upload.py", title="Upload", icon=":material/upload:", url_path="upload"),
    st.Page("explorer/ui/pages/anomaly.py", title="Anomaly", icon=":material/warning:", url_path="anomaly"),
    # The default page is served at "/" only; this hidden twin makes a link to "/map" open the Map too,
    # instead of Streamlit's "Page not found" dialog.
    st.Page("explorer/ui/pages/map.py", title="Map", icon=":material/map:", url_path="map", visibility="hidden"),
]


login.gate()  # with an OIDC provider configured, nothing below runs for anyone not logged in
session.set_context(sidebar.sidebar())
try:
    if settings.read().warm_start:  # the tests switch it off
        map_jobs.warm_start()
except (CheckpointError, DatasetError, OSError) as e:  # a broken install must not block the app
    st.sidebar.warning(f"Could not prepare the default maps: {e}")
try:
    st.navigation(PAGES).run()
finally:
    # Once per server, after the first page (not before it: the collection takes 0.3-0.6 s), the
    # libraries it loaded are kept out of the collection Streamlit runs after every run.
    heap.freeze_startup_heap()
