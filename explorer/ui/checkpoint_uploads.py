"""Models uploaded in the sidebar: stored on disk in a folder named by their content, once per
upload, and pruned beyond a byte budget.

Nothing uploaded is ever unpickled or run: loading goes through ``sources.open_user_model``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import streamlit as st

from .. import cache
from ..sources.uploads import plan_upload

UPLOADS_KEEP_BYTES = 2 * 2**30  # uploaded checkpoints kept on disk; those stored longest ago go first
SESSION_KEY = "ckpt_upload_stored"  # (file ids, path) of this session's last stored upload


def stored_upload(uploads) -> Path:
    """Where this session's uploaded checkpoint files are stored; hashed and stored once per
    upload, not on every rerun (a large checkpoint took a noticeable part of a second to hash)."""
    ids = tuple(f.file_id for f in uploads)
    previous = st.session_state.get(SESSION_KEY)
    if previous is not None and previous[0] == ids and previous[1].exists():
        return previous[1]
    path = store_upload(uploads)
    st.session_state[SESSION_KEY] = (ids, path)
    return path


def store_upload(files: list) -> Path:
    """Put uploaded model files in a folder named by their content; returns what to open (the
    folder, or the one file in it).

    Accepts one ``.safetensors`` (config in its metadata) or ``config.json`` + weights, an ONNX
    pair (+ ``explorer.json``), or ``.keras`` file(s) (``sources.uploads.plan_upload``); a
    Python file is refused.
    """
    plan = plan_upload([f.name for f in files])
    by_name = {f.name: f for f in files}
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        digest.update(f.name.encode() + f.getvalue())
    folder = cache.cache_dir() / "uploads" / digest.hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True)
    for name, uploaded in plan.names.items():
        # The folder is named by the content, so a file already there is this one: rewriting it
        # would change its mtime, and with it the engine cache's key (a reload per rerun).
        # Atomic, so two sessions uploading the same files never read each other's half file.
        if not (folder / name).is_file():
            cache.atomic_write(folder / name, by_name[uploaded].getvalue())
    os.utime(folder)  # most recently stored: pruned last
    prune_uploads(keep=folder)
    return folder / plan.entry if plan.entry else folder


def prune_uploads(keep: Path) -> None:
    """Delete the uploaded checkpoints stored longest ago beyond UPLOADS_KEEP_BYTES (never
    ``keep``). A session still using one keeps its model in memory, and the sidebar stores
    the files again if it needs them."""
    folders = sorted((p for p in keep.parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    used = 0
    for folder in folders:
        used += sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        if used > UPLOADS_KEEP_BYTES and folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
