"""Where the checkpoints shipped with the repository live, and which one the app opens on.
Plain constants, so the app, the CLI and the benchmarks name them from one place without
importing torch."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED_DIR = REPO / "checkpoints"
EXPORT_DIR = REPO / "exported"  # where the README's `export` writes (git-ignored); typed paths may point into it
DEFAULT_CHECKPOINT = "mnist-vae"  # what the app opens on, warms up and the benchmarks measure
