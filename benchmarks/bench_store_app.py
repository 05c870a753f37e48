"""The app on a store of a million rows (issue 23): open the store -> first map drawn, a lasso of
about 100,000 points -> the selection's summary and gallery, and the server's peak RSS while it
maps the million codes (PCA at once, then a t-SNE or UMAP fitted on 100,000 and the rest placed).

    flock /tmp/heavy.lock .venv/bin/python -m benchmarks.bench_store_app \\
        [--store stores/synthetic-1m] [--size 1000000] [--slow-map tsne|umap|none] [--lasso 100000]

A store that does not exist yet is written first by benchmarks/synthetic_store.py: real images of
the 1-px shapes grid (by reference, with their real thumbnails, labels and factors) and
synthetic codes from a Gaussian mixture, in minutes; encoding ``shapes:1000000`` with the model
takes ~20 min of CPU here (``python -m explorer encode checkpoints/shapes-vae shapes:1000000 --out
STORE`` writes a real one, which this benchmark takes as well).

In process first (a scratch disk cache): ``open_store`` and the dataset around it, and PCA of all
codes. Then the app (``streamlit run app.py``, its own empty disk cache, no warm start) in headless
Chromium: the link that opens the store on the Map -> the WebGL map's first frame drawn to pixels
(the server warmed up on a small dataset first; then it reads the store, maps it and packs the
map's arrays), again in a second page (all of that cached in the server); a lasso drawn by the mouse, sized to catch about
``--lasso`` points (mouse-up -> "N images selected" and its summary, then -> the run done with the
gallery's images loaded); then ``--slow-map`` asked for by the link, until its tab appears. The
server's RSS is sampled every 0.2 s throughout: its peak over each phase is reported.
"""
from __future__ import annotations

import argparse
import re
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.browser_map import DATASET_PATH, VIEW, lasso, settle, wait_map
from benchmarks.harness import StreamlitServer, chromium_launch_options
from benchmarks.synthetic_store import write_synthetic_store

ROOT = Path(__file__).resolve().parents[1]
PORT = 8611
SELECTED = re.compile(r"([0-9,]+) images selected")
LABELS = {"tsne": "t-SNE", "umap": "UMAP"}
SHOTS = Path(tempfile.gettempdir()) / "bench_store_app"  # screenshots of the map and the selection


class PeakRSS:
    """A process's resident memory sampled every ``every_s``; ``phase(name)`` starts a new peak."""

    def __init__(self, pid: int, every_s: float = 0.2):
        self.pid, self.every_s = pid, every_s
        self.peaks: dict[str, int] = {}
        self.current = "start"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def rss(self) -> int:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            return 0

    def watch(self) -> None:
        while not self.stop.wait(self.every_s):
            self.peaks[self.current] = max(self.peaks.get(self.current, 0), self.rss())

    def phase(self, name: str) -> None:
        self.peaks[name] = self.rss()
        self.current = name

    def close(self) -> dict[str, int]:
        self.stop.set()
        self.thread.join()
        return self.peaks


def say(line: str) -> None:
    print(line, flush=True)


def in_process(store: Path) -> None:
    """Opening the store and mapping it with PCA, in this process (a scratch cache)."""
    import os

    os.environ["LATENT_EXPLORER_CACHE"] = tempfile.mkdtemp(prefix="bench-store-app-cache-")
    from explorer import projection
    from explorer.store import open_store
    from explorer.store_dataset import load_store

    started = time.perf_counter()
    opened = open_store(store)
    say(f"open_store: {len(opened):,} rows read in {time.perf_counter() - started:.1f} s "
                 f"(codes {opened.codes.nbytes / 1e6:.0f} MB)")
    started = time.perf_counter()
    dataset = load_store(store, lambda path: True)
    say(f"load_store (open_store + the dataset: split, identity): {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    projection.project_large(dataset.store.codes, "pca")
    say(f"PCA of all {len(dataset.x):,} codes: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    dataset.x[np.linspace(0, len(dataset.x) - 1, 64).astype(int)]
    say(f"64 images fetched by reference (a gallery's): {time.perf_counter() - started:.2f} s")


def lasso_about(page, box: dict, target: int, total: int) -> tuple[int, float, float]:
    """A lasso sized to catch about ``target`` points (the ellipse scaled by the square root of the
    miss, up to 5 tries); returns (points selected, mouse-up -> summary ms, mouse-up -> gallery ms)."""
    fraction = 0.5
    for _ in range(5):
        page.locator(".lx-map .lx-clear").click()
        page.wait_for_selector("text=/Nothing selected yet/", timeout=120_000)
        settle(page)
        lasso(page, box, fraction)
        summary = page.wait_for_function(
            "() => { const m = /([0-9,]+) images selected/.exec(document.body.innerText); "
            "return m && window.__up ? [performance.now() - window.__up[0], m[1]] : null; }", polling="raf",
            timeout=300_000).json_value()
        settle(page)
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                               ".every(i => i.complete)", timeout=120_000)
        gallery = page.evaluate("() => performance.now() - window.__up[0]")
        count = int(summary[1].replace(",", ""))
        say(f"  a lasso around the middle {fraction:.2f} of the map caught {count:,} points")
        if abs(count - target) <= 0.2 * target:
            return count, summary[0], gallery
        fraction = min(0.98, fraction * np.sqrt(target / max(count, 1)))
    return count, summary[0], gallery


def in_app(store: Path, slow_map: str, target: int, log: Path) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix="bench-store-app-server-"))
    server = StreamlitServer(cache, log, port=PORT, env={"LATENT_EXPLORER_ROOTS": str(store.resolve().parent),
                                                          "LATENT_EXPLORER_WARM_START": "0"})
    query = (f"ckpt=shapes-vae&data={DATASET_PATH.replace(' ', '+')}&data_path={store.resolve()}")
    try:
        server.wait_healthy()
        memory = PeakRSS(server.process.pid)
        with sync_playwright() as p:
            browser = p.chromium.launch(**chromium_launch_options())
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # the server's own start (imports, the model, the map's code) on a small dataset, apart
            started = time.perf_counter()
            page.goto(f"{server.url}/?ckpt=shapes-vae&data={DATASET_PATH.replace(' ', '+')}&data_path=shapes:2000")
            wait_map(page, 900_000)
            settle(page)
            say(f"(the server warmed up on shapes:2000 first: {time.perf_counter() - started:.1f} s)")
            memory.phase("first map")
            started = time.perf_counter()
            page.goto(f"{server.url}/?{query}")
            wait_map(page, 900_000)
            first = time.perf_counter() - started
            count = page.evaluate(f"() => {VIEW}.count")
            say(f"open the store -> first map drawn: {first:.1f} s, {count:,} points")
            settle(page)
            page.screenshot(path=str(SHOTS / "store-map.png"))
            again = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            again.goto(f"{server.url}/?{query}")
            wait_map(again, 900_000)
            say(f"open the store -> first map drawn (warm server, a second page): "
                         f"{time.perf_counter() - started:.1f} s")
            again.close()
            memory.phase("lasso")
            box = page.locator(".lx-map .lx-box").bounding_box()
            selected, to_summary, to_gallery = lasso_about(page, box, target, count)
            say(f"lasso of {selected:,} points: mouse-up -> summary {to_summary / 1000:.2f} s, "
                         f"-> gallery loaded {to_gallery / 1000:.2f} s")
            page.screenshot(path=str(SHOTS / "store-selection.png"), full_page=True)
            if slow_map != "none":
                memory.phase(slow_map)
                started = time.perf_counter()
                page.goto(f"{server.url}/?{query}&map_method={LABELS[slow_map]}")
                page.wait_for_selector(f'.lx-map .lx-tabs button[data-projection="{slow_map}"]', timeout=3_600_000)
                say(f"{LABELS[slow_map]} of {count:,} codes in the app (fitted on 100,000, the rest placed): "
                             f"{time.perf_counter() - started:.0f} s to its tab")
            browser.close()
        peaks = memory.close()
        say("server peak RSS: " + ", ".join(f"{name} {peak / 2**20:,.0f} MB" for name, peak in peaks.items()
                                                      if name != "start"))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=ROOT / "stores" / "synthetic-1m")
    parser.add_argument("--size", type=int, default=1_000_000, help="rows of a synthetic store written when missing")
    parser.add_argument("--slow-map", choices=["tsne", "umap", "none"], default="tsne")
    parser.add_argument("--lasso", type=int, default=100_000, help="points the lasso aims to catch")
    args = parser.parse_args()
    if not (args.store / "manifest.json").is_file():
        seconds = write_synthetic_store(args.store, args.size)
        print(f"synthetic store of {args.size:,} rows written in {seconds:.0f} s", flush=True)
    in_process(args.store)
    log = Path(tempfile.mkdtemp(prefix="bench-store-app-log-")) / "server.log"
    say(f"(server log: {log})")
    in_app(args.store, args.slow_map, args.lasso, log)


if __name__ == "__main__":
    main()
