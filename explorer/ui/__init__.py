"""Streamlit pages. Each page reads widgets, calls plain functions in ``explorer``, draws."""
