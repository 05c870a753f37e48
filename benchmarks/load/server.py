"""The app under load: the shared server start with its warm start on or off, the pre-warmed
disk cache it may start on, and the problems its log shows afterwards."""
from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import ROOT, StreamlitServer
from benchmarks.load.process_stats import wait_until_idle

# In a process of its own, under the same cache keys the Map page uses.
PREWARM = """
import sys
from explorer import projection
from explorer.engine import InferenceEngine
from explorer.data import load_dataset
from explorer.shipped import DEFAULT_CHECKPOINT, SHIPPED_DIR
from explorer.sources import open_model
engine = InferenceEngine(open_model(SHIPPED_DIR / DEFAULT_CHECKPOINT))
dataset = load_dataset("mnist")
codes = engine.encode_dataset(dataset).codes
for method in sys.argv[1:]:
    projection.project(codes, method, projection.default_params(method), (engine.source.content_hash, dataset.identity))
"""


class LoadServer(StreamlitServer):
    """A fresh log, the app's warm start switched on or off, stopped at exit whatever happens."""

    def __init__(self, port: int, cache: Path, log_path: Path, warm_start: bool):
        log_path.write_bytes(b"")
        super().__init__(cache, log_path, port=port, env={"LATENT_EXPLORER_WARM_START": "1" if warm_start else "0"})
        atexit.register(self.stop)

    def wait_idle(self, seconds: float) -> float:
        return wait_until_idle(self.process.pid, seconds)


def log_problems(text: str) -> dict:
    """Tracebacks and other error lines in the server log."""
    lines = text.splitlines()
    tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    excerpts = ["\n".join(lines[i: i + 30]) for i in tracebacks[:5]]
    errors = [line for line in lines if re.search(r"\b(ERROR|CRITICAL)\b|Exception\b|Error:", line)]
    warnings = [line for line in lines if re.search(r"\bWARNING\b|warning", line, re.IGNORECASE)]
    return {"tracebacks": len(tracebacks), "traceback_excerpts": excerpts, "error_lines": len(errors),
            "error_line_examples": sorted(set(errors))[:10], "warning_lines": len(warnings),
            "warning_examples": sorted({re.sub(r"^\S+ \S+ ", "", w) for w in warnings})[:10]}


def prewarm(cache: Path, methods: tuple[str, ...]) -> float:
    """Encodings and maps of the default model, computed in a separate process."""
    start = time.perf_counter()
    env = dict(os.environ, LATENT_EXPLORER_CACHE=str(cache))
    subprocess.run([sys.executable, "-c", PREWARM, *methods], cwd=ROOT, env=env, check=True, timeout=900,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start

