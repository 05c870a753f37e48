"""The Streamlit app's parts: ``pages/`` (one script per page; each reads widgets, calls plain
functions in ``explorer``, draws) and the modules the pages share (the sidebar, the caches of
engines and datasets, the map's jobs and its drawing, display helpers, hand-offs between pages)."""
