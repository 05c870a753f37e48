"""Paths a user may type: allowed only under the folders this app may read, and for a folder
only if no link inside it leads out of them. Every refusal is a ``ValueError`` that says why.

A refusal reveals nothing about what lies outside those folders: everything outside gets one
message (whether it exists, loops or belongs to another user), and the allowed folders are
named relative to the app, never by the server's absolute paths.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from .. import settings
from ..shipped import EXPORT_DIR, REPO, SHIPPED_DIR

ROOTS_ENV = settings.ENV["roots"]  # named in the message that refuses a path outside the roots
MAX_FOLDER_ENTRIES = 1_000_000  # a typed folder with more entries is refused rather than half checked
SHOWN_CHARACTERS = 200  # a longer typed path is shortened in messages
# Said beside every path box, and in the README.
WHERE_PATHS_MAY_POINT = (f"Typed paths may point into {SHIPPED_DIR.name}/, data/ or {EXPORT_DIR.name}/ in the app's "
                         f"folder (relative to it, or absolute), and into the folders the server's starter lists in "
                         f"${ROOTS_ENV}.")


class LinkOutside(ValueError):
    """A folder holds a link leading outside the allowed folders (or nowhere)."""


def allowed_roots() -> list[Path]:
    return [root for root, _ in named_roots()]


def named_roots() -> list[tuple[Path, str]]:
    """(resolved folder, how messages name it) of every folder a typed path may point into: inside
    the app's own folder by its relative name ("checkpoints/"), else as the server's starter wrote it."""
    roots = []
    for given in [SHIPPED_DIR, REPO / "data", EXPORT_DIR, *settings.read().roots]:
        resolved = Path(given).resolve()
        inside_app = resolved == REPO or REPO in resolved.parents
        roots.append((resolved, f"{resolved.relative_to(REPO).as_posix()}/" if inside_app else str(given)))
    return roots


def is_inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def shown(text: str) -> str:
    """A typed path as messages show it: whole when short, else its start and its length."""
    return text if len(text) <= SHOWN_CHARACTERS else f"{text[:120]}… ({len(text):,} characters)"


def outside_message(text: str) -> str:
    names = ", ".join(name for _, name in named_roots())
    return f"{shown(text)} is outside the folders this app may read ({names}); set {ROOTS_ENV} to allow more"


def expand_home(text: str) -> Path:
    """Only "~" and "~/…" mean the server's home; "~user" is a plain name (expanding it would
    tell a user which accounts exist on the server)."""
    if text == "~" or text.startswith("~/"):
        return Path.home() / text[2:]
    return Path(text)


def resolve_user_path(text: str, check_links: bool = True) -> Path:
    """A typed path, allowed only if it resolves (symlinks followed) under an allowed root, and,
    for a folder when ``check_links``, only if no link inside it leads outside the roots (a
    dataset folder's links are checked by the walk that lists it instead: one walk, not two)."""
    text = text.strip()
    if not text:
        raise ValueError("enter a path")
    if "\x00" in text:
        raise ValueError("the path contains a NUL character")
    raw = expand_home(text)
    if ".." in raw.parts:
        raise ValueError("paths with '..' are not accepted")
    roots = allowed_roots()
    candidate = raw if raw.is_absolute() else REPO / raw
    # realpath (not strict) never raises: a loop or a missing part is left unresolved, so where the
    # path leads is judged before anything about it is said
    if not is_inside(Path(os.path.realpath(candidate)), roots):
        raise ValueError(outside_message(text))
    try:
        resolved = candidate.resolve(strict=True)
        if not is_inside(resolved, roots):  # changed under our feet between the two looks
            raise ValueError(outside_message(text))
        if check_links and resolved.is_dir():
            link_leading_outside(resolved, roots)
    except LinkOutside as e:
        raise ValueError(f"{shown(text)}: {e}") from None
    except RuntimeError:  # a symlink loop (pathlib's own error for it)
        raise ValueError(f"{shown(text)}: a symbolic link loops back on itself") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ValueError(f"{shown(text)}: a symbolic link loops back on itself") from None
        if e.errno == errno.ENOENT:
            raise ValueError(f"{shown(text)}: no such file or folder") from None
        raise ValueError(f"{shown(text)}: cannot be used ({e.strerror or e})") from None  # a name too long, …
    return resolved


def link_problem(path: Path, roots: list[Path]) -> str | None:
    """Why the symbolic link ``path`` may not be followed (None: it leads inside the roots)."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "is a link that leads nowhere (its target is missing or it loops)"
    return None if is_inside(target, roots) else "is a link to a place outside the folders this app may read"


def link_checker(roots: list[Path] | None = None) -> Callable[[Path], str | None]:
    roots = allowed_roots() if roots is None else roots
    return lambda path: link_problem(path, roots)


def link_leading_outside(folder: Path, roots: list[Path]) -> None:
    """Raise LinkOutside naming the first symbolic link under ``folder`` (links not followed)
    whose target is outside ``roots`` or cannot be resolved. Every entry is checked; a folder
    with more than MAX_FOLDER_ENTRIES is refused instead of being checked in part."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            seen += 1
            if seen > MAX_FOLDER_ENTRIES:
                raise LinkOutside(f"holds more than {MAX_FOLDER_ENTRIES:,} entries, too many to check")
            path = Path(dirpath) / name
            if path.is_symlink():
                why = link_problem(path, roots)
                if why is not None:
                    raise LinkOutside(f"{path.relative_to(folder)} {why}")
