"""Load run: many browser sessions on one real Streamlit server, at the same time.

    python -m benchmarks.load_run [--sessions 8] [--seconds 60] [--port 0] [--out test-output/load]
                                  [--cache DIR] [--no-prewarm] [--no-warm-start] [--baseline-presses 40]

1. Pre-warms a disk cache (a temporary folder, or --cache) with the default model's encodings
   and its PCA, t-SNE and UMAP maps, in a separate process; then starts
   ``python -m streamlit run app.py`` headless on 127.0.0.1 (file watcher off, usage stats off,
   the app's warm start on unless --no-warm-start), its output in ``<out>/server.log``.
2. One browser session alone: a warm-up round over the pages, a wait until the server is idle,
   then slider key presses, for the slider-update latency of a single session
   (--baseline-presses 0 skips this).
3. N sessions (headless Chromium contexts in one browser, driven with Playwright's async API)
   open the app at the same moment and do one warm-up round each; when all have, they go on
   together for D measured seconds, each looping over: a burst of arrow-key presses on a slider
   thumb of the Sliders page; a projection change (PCA / t-SNE / UMAP, through the form) and a
   colour change on the Map page; an upload of a generated digit PNG on the Upload page.

The pages have no WebAssembly (hidden by an init script), so the app decodes the sliders on the
server, as for a browser that cannot run the in-page decoder: that path is what loads the server.
Slider-update latency is measured in the page: from the keydown event (``performance.now()``)
to the moment a MutationObserver sees the "Decoded from the sliders" image get a new ``src``.
It includes Streamlit's round trip and the browser's own work; browser and server share the
machine's cores, so under load it also includes Chromium competing for them.

Counted as errors: exception boxes in a page (``[data-testid="stException"]``), uncaught
JavaScript errors, actions that failed or timed out, a dropped connection, a page asking for a
checkpoint or a sidebar that lost the one picked (nobody here changes it). The server log is
searched for tracebacks. Resident memory (RSS) of the server and its children is read from
/proc every ~10 s. Everything stays on 127.0.0.1: requests to any other address are aborted and
counted. Every wait has a time limit and the run has an overall one; the server's process group
is killed at the end, also on Ctrl-C or failure.

Writes ``<out>/server.log``, ``<out>/load_run.json`` (and a screenshot per failure) and prints
a summary table; exits 1 when there were errors or tracebacks. The parts live in ``benchmarks/load/``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.harness import ROOT
from benchmarks.load.config import Config
from benchmarks.load.report import passed, print_report
from benchmarks.load.run import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "load")
    parser.add_argument("--cache", type=Path, help="cache folder to use (and pre-warm); default: a temporary one")
    parser.add_argument("--no-prewarm", action="store_true", help="start on an empty cache")
    parser.add_argument("--no-warm-start", action="store_true", help="LATENT_EXPLORER_WARM_START=0 for the server")
    parser.add_argument("--baseline-presses", type=int, default=40)
    parser.add_argument("--chromium", help="a Chromium binary; default: $CHROMIUM, else Debian's")
    args = parser.parse_args(argv)
    config = Config(sessions=args.sessions, seconds=args.seconds, port=args.port, out=args.out, cache=args.cache,
                    prewarm=not args.no_prewarm, warm_start=not args.no_warm_start,
                    baseline_presses=args.baseline_presses, chromium=args.chromium)
    try:
        results = run(config)
    except KeyboardInterrupt:
        print("interrupted; the server was stopped", file=sys.stderr)
        return 130
    print_report(results, Path(config.out))
    return 0 if passed(results) else 1


if __name__ == "__main__":
    sys.exit(main())
