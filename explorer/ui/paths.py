"""Paths a user may type: allowed only under the folders this app may read, and for a folder
only if no link inside it leads out of them. Every refusal is a ``ValueError`` that says why."""
from __future__ import annotations

import os
from pathlib import Path

from .. import settings
from ..shipped import EXPORT_DIR, REPO, SHIPPED_DIR

ROOTS_ENV = settings.ENV["roots"]  # named in the message that refuses a path outside the roots
MAX_LINK_SCAN = 100_000  # entries of a typed folder checked for links that lead outside the roots
# Said beside every path box, and in the README.
WHERE_PATHS_MAY_POINT = (f"Typed paths may point into {SHIPPED_DIR.name}/, data/ or {EXPORT_DIR.name}/ in the app's "
                         f"folder (relative to it, or absolute), and into the folders the server's starter lists in "
                         f"${ROOTS_ENV}.")


def allowed_roots() -> list[Path]:
    extra = settings.read().roots
    return [p.resolve() for p in [SHIPPED_DIR, REPO / "data", EXPORT_DIR, *extra]]


def is_inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def resolve_user_path(text: str) -> Path:
    """A typed path, allowed only if it resolves (symlinks followed) under an allowed root, and,
    for a folder, only if no link inside it leads outside the roots."""
    text = text.strip()
    if not text:
        raise ValueError("enter a path")
    if "\x00" in text:
        raise ValueError("the path contains a NUL character")
    shown_text = text if len(text) <= 200 else f"{text[:120]}… ({len(text):,} characters)"
    roots = allowed_roots()
    try:
        raw = Path(text).expanduser()
        if ".." in raw.parts:
            raise ValueError("paths with '..' are not accepted")
        candidate = raw if raw.is_absolute() else REPO / raw
        resolved = candidate.resolve()
        if not is_inside(resolved, roots):
            shown = ", ".join(str(r) for r in roots)
            raise ValueError(f"{shown_text} is outside the folders this app may read ({shown}); "
                             f"set {ROOTS_ENV} to allow more")
        if not resolved.exists():
            raise ValueError(f"{shown_text}: no such file or folder")
        link = link_leading_outside(resolved, roots) if resolved.is_dir() else None
    except RuntimeError as e:  # a symlink loop, or "~user" with no such user
        raise ValueError(f"{shown_text}: {'a symbolic link loops back on itself' if 'loop' in str(e) else e}") from None
    except OSError as e:  # a name too long, a folder that cannot be listed, ...
        raise ValueError(f"{shown_text}: cannot be used ({e.strerror or e})") from None
    if link is not None:
        path, why = link
        raise ValueError(f"{shown_text}: {path.relative_to(resolved)} is a link {why}")
    return resolved


def link_leading_outside(folder: Path, roots: list[Path]) -> tuple[Path, str] | None:
    """The first symbolic link under ``folder`` (links not followed) whose target is outside
    ``roots`` or cannot be resolved, with why; None when there is none."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            seen += 1
            path = Path(dirpath) / name
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    return path, "that leads nowhere (its target is missing or it loops)"
                if not is_inside(target, roots):
                    return path, "to a place outside the folders this app may read"
        if seen > MAX_LINK_SCAN:
            break
    return None
