"""What a load run does: how many sessions, for how long, with which limits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import ROOT


@dataclass
class Config:
    sessions: int = 8
    seconds: float = 60.0
    port: int = 0  # 0: a free one
    out: Path = ROOT / "test-output" / "load"
    cache: Path | None = None  # None: a temporary folder, removed at the end
    prewarm: bool = True  # encodings and maps of the default model on disk before the server starts
    warm_start: bool = True  # the app's own default; the test suite turns it off
    projections: tuple[str, ...] = ("tsne", "umap", "pca")  # cycled through on the Map page
    baseline_presses: int = 40  # slider presses of the single session
    burst: int = 6  # slider presses per visit of the Sliders page
    sample_every: float = 10.0  # seconds between memory samples
    linger_s: float = 5.0  # after the sessions closed, before the last memory sample
    idle_wait_s: float = 120.0  # at most this long waiting for the server to go idle after warm-up
    action_timeout_s: float = 60.0  # one page load, map change or upload
    press_timeout_s: float = 20.0  # one slider update
    chromium: str | None = None  # None: harness.find_chromium()
    quiet: bool = False

