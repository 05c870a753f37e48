"""Who may use the app. With an OpenID Connect provider configured (an ``[auth]`` section in
``.streamlit/secrets.toml``), only people who logged in through it (Streamlit's ``st.login``);
without one, whoever can reach the server, which by default is this machine alone
(``server.address = "localhost"`` in ``.streamlit/config.toml``)."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError


def login_required() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, StreamlitSecretNotFoundError):  # no secrets file at all
        return False


def gate() -> None:
    """Stop this run at a login prompt for anyone not logged in, when a provider is configured;
    a logged-in person sees who they are and can log out, in the sidebar."""
    if not login_required():
        return
    if st.user.get("is_logged_in", False):
        who = st.user.get("email") or st.user.get("name") or "you"
        left, right = st.sidebar.columns([3, 1], vertical_alignment="center")
        left.caption(f"Logged in as {who}")
        right.button("Log out", on_click=st.logout, key="logout")
        return
    st.title("Latent Explorer")
    st.info("This server lets in only people who log in.")
    st.button("Log in", on_click=st.login, type="primary", key="login")
    st.stop()
