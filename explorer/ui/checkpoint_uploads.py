"""Models uploaded in the sidebar: stored on disk in a folder named by their content, once per
upload, within the cache's one disk budget (``cache_budget``).

Nothing uploaded is ever unpickled or run: loading goes through ``sources.open_user_model``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import streamlit as st

from .. import cache, cache_budget
from ..checkpoint import CheckpointError
from ..sources.uploads import plan_upload

SESSION_KEY = "ckpt_upload_stored"  # (file ids, path) of this session's last stored upload


def stored_upload(uploads) -> Path:
    """Where this session's uploaded checkpoint files are stored; hashed and stored once per
    upload, not on every rerun (a large checkpoint took a noticeable part of a second to hash)."""
    ids = tuple(f.file_id for f in uploads)
    previous = st.session_state.get(SESSION_KEY)
    if previous is not None and previous[0] == ids and previous[1].exists():
        cache_budget.touch(previous[1] if previous[1].is_dir() else previous[1].parent)  # in use: evicted last
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
    missing = [name for name in plan.names if not (folder / name).is_file()]
    try:  # room for what is not stored yet; the stored uploads used longest ago go first
        cache_budget.make_room(sum(len(by_name[plan.names[name]].getvalue()) for name in missing), keep=(folder,),
                               what="the uploaded model")
    except cache_budget.CacheFull as e:
        raise CheckpointError(str(e)) from None
    folder.mkdir(parents=True, exist_ok=True)
    for name in missing:
        # The folder is named by the content, so a file already there is this one: rewriting it
        # would change its mtime, and with it the engine cache's key (a reload per rerun).
        # Atomic, so two sessions uploading the same files never read each other's half file.
        cache.atomic_write(folder / name, by_name[plan.names[name]].getvalue())
    os.utime(folder)  # most recently used: evicted last
    return folder / plan.entry if plan.entry else folder
