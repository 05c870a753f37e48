"""Every setting of the app, read in one place: the ``LATENT_EXPLORER_*`` environment variables
(one per field of ``Settings``, its name in capitals) and the server's own command line
(``streamlit run app.py -- --model adapter.py``).

``read()`` reads them afresh on each call, so a changed environment (a test's) is seen at once.
Each field's comment is what the README's settings table says about it, word for word.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

ENV_PREFIX = "LATENT_EXPLORER_"
DEFAULT_CACHE = Path.home() / ".cache" / "latent-explorer"


@dataclass(frozen=True)
class Settings:
    cache: Path = DEFAULT_CACHE  # disk cache of data, codes, maps, exports and uploads; default ~/.cache/latent-explorer
    roots: tuple[Path, ...] = ()  # more folders a typed path may point into (os.pathsep-separated); default none
    models: tuple[Path, ...] = ()  # Python adapters the sidebar lists after --model's (os.pathsep-separated); default none
    device: str | None = None  # torch device: cuda, mps or cpu; default CUDA, else MPS, else CPU
    runtime: str | None = None  # onnxruntime or torch; default onnxruntime on the CPU where the model exports
    warm_start: bool = True  # 0: no t-SNE and UMAP maps of the default model made at start; default 1
    cache_gb: float = 10.0  # disk the cache (and the decoders and map data served to pages) may fill, in GB; past it, what was used longest ago is deleted; default 10
    engine_mb: float = 2048.0  # memory for loaded models, in MB; past it, the one used longest ago is closed; default 2048
    map_queue: int = 8  # t-SNE and UMAP maps that may wait for the worker, all sessions together; default 8


ENV = {f.name: ENV_PREFIX + f.name.upper() for f in fields(Settings)}  # field -> its environment variable


def read(environ: dict | None = None, argv: list[str] | None = None) -> Settings:
    """The settings now: ``environ`` (default os.environ) and ``argv`` (default the command line);
    an empty variable counts as unset."""
    environ = os.environ if environ is None else environ
    given = {name: environ.get(variable, "").strip() for name, variable in ENV.items()}
    return Settings(cache=Path(given["cache"]) if given["cache"] else DEFAULT_CACHE,
                    roots=tuple(Path(p) for p in given["roots"].split(os.pathsep) if p.strip()),
                    models=tuple(server_models(argv, environ)),
                    device=given["device"] or None,
                    runtime=given["runtime"] or None,
                    warm_start=given["warm_start"] != "0",
                    cache_gb=positive(given, "cache_gb", float, Settings.cache_gb),
                    engine_mb=positive(given, "engine_mb", float, Settings.engine_mb),
                    map_queue=positive(given, "map_queue", int, Settings.map_queue))


def positive(given: dict[str, str], name: str, kind: type, default):
    """The setting ``name`` as a positive ``kind``, or its default when unset; anything else is
    a ValueError naming the variable."""
    text = given[name]
    if not text:
        return default
    try:
        value = kind(text) if len(text) <= 30 else None
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        raise ValueError(f"{ENV[name]} must be a positive {'whole ' if kind is int else ''}number, got {text[:30]!r}")
    return value


def server_models(argv: list[str] | None = None, environ: dict | None = None) -> list[Path]:
    """Adapter files named by ``--model`` (after ``--`` in ``streamlit run app.py -- ...``)
    and by $LATENT_EXPLORER_MODELS, resolved, in order, without repeats."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--model", action="append", default=[])
    named, _ = parser.parse_known_args(argv)
    paths = named.model + [p for p in environ.get(ENV["models"], "").split(os.pathsep) if p.strip()]
    seen, out = set(), []
    for p in paths:
        resolved = Path(p).expanduser().resolve()
        if resolved not in seen:
            seen.add(resolved)
            out.append(resolved)
    return out
