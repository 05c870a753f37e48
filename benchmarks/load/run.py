"""The whole load run: pre-warm, start the server, one session alone, then N at once; the
figures in a dict (also written to ``<out>/load_run.json``)."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.harness import chromium_launch_options, free_port
from benchmarks.load.config import Config
from benchmarks.load.recorder import Recorder
from benchmarks.load.server import LoadServer, log_problems, prewarm
from benchmarks.load.session import Session
from benchmarks.load.stats import percentile


async def single_session(browser, config: Config, server: LoadServer, recorder: Recorder, results: dict, say) -> None:
    """One session alone: a warm-up round over every page and projection, a wait until the
    server is idle, then ``config.baseline_presses`` slider presses."""
    recorder.phase = "single: warm-up"
    say("single session: warm-up round (every page, every projection)")
    alone = Session(browser, server.url, "single", config, seed=0)
    await alone.open()
    await alone.attempt("sliders", lambda: alone.sliders(3))
    for _ in config.projections:
        await alone.attempt("map", alone.map_change)
    await alone.attempt("upload", alone.upload)
    waited = await asyncio.to_thread(server.wait_idle, config.idle_wait_s)
    results["idle_wait_s"] = round(waited, 1)
    alone.stats.start_measuring()
    recorder.phase = "single: sliders"
    say(f"single session: {config.baseline_presses} slider presses (server idle after {waited:.0f} s)")
    await alone.attempt("sliders", lambda: alone.sliders(0))  # onto the page
    remaining = config.baseline_presses
    while remaining > 0:  # ten presses per slider, on the page as it is
        n = min(remaining, 10)
        if not await alone.attempt("sliders", lambda: alone.sliders(n, navigate=False)):
            break
        remaining -= n
    await alone.close()
    results["single"] = alone.stats.summary()
    results["rss_after_single_mb"] = recorder.sample("single: done")["rss_mb"]


async def drive(config: Config, launch: dict, server: LoadServer, recorder: Recorder, results: dict) -> None:
    from playwright.async_api import async_playwright

    say = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**launch)
        sampler = asyncio.create_task(recorder.run())
        try:
            if config.baseline_presses > 0:
                await single_session(browser, config, server, recorder, results, say)

            # 2. N sessions at once: each opens the app and does one warm-up round; when all have,
            # they go on together for config.seconds, which are measured.
            say(f"{config.sessions} sessions: warm-up round each, then {config.seconds:.0f} s all at once")
            recorder.phase = "concurrent: warm-up"
            sessions = [Session(browser, server.url, f"s{i + 1}", config, seed=i + 1) for i in range(config.sessions)]
            all_warm = asyncio.Event()
            warm = {"count": 0}
            recorder.progress = lambda: (f"slider updates {sum(len(s.stats.slider_ms) for s in sessions)}, "
                                         f"errors {sum(len(s.stats.errors) for s in sessions)}")

            async def one(session: Session) -> None:
                try:
                    await session.open()
                    await session.round()
                except Exception as e:  # only open() can raise: attempt() records the rest
                    session.stats.errors.append(f"opening the app failed: {type(e).__name__}: {str(e)[:200]}")
                warm["count"] += 1
                if warm["count"] == len(sessions):
                    results["warm_up_wall_s"] = round(time.monotonic() - started, 1)
                    results["rss_after_warm_up_mb"] = recorder.sample("after warm-up")["rss_mb"]
                    recorder.phase = "concurrent"
                    all_warm.set()
                await all_warm.wait()  # bounded: every other session's open and round have time limits
                session.stats.start_measuring()
                if session.page is not None:
                    await session.loop(config.seconds)

            started = time.monotonic()
            await asyncio.gather(*(one(s) for s in sessions))
            results["concurrent_wall_s"] = round(time.monotonic() - started - results["warm_up_wall_s"], 1)
            results["rss_end_mb"] = recorder.sample("end")["rss_mb"]
            recorder.phase, recorder.progress = "closing", lambda: ""
            results["sessions"] = [s.stats.summary() for s in sessions]
            results["concurrent_slider_ms"] = [ms for s in sessions for ms in s.stats.slider_ms]
            results["concurrent_map_ms"] = [ms for s in sessions for ms in s.stats.map_ms]
            results["concurrent_upload_ms"] = [ms for s in sessions for ms in s.stats.upload_ms]
            await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
            await asyncio.sleep(config.linger_s)
            results["rss_after_close_mb"] = recorder.sample("sessions closed")["rss_mb"]
        finally:
            sampler.cancel()
            await browser.close()


def run(config: Config) -> dict:
    """The whole load run; returns the figures (also written to ``<out>/load_run.json``)."""
    launch = chromium_launch_options(config.chromium)  # before anything starts: ChromiumMissing says what to do
    say = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("failure-*.png"):  # screenshots of an earlier run's failures
        old.unlink()
    temporary = config.cache is None
    cache = Path(tempfile.mkdtemp(prefix="latent-explorer-load-cache-")) if temporary else Path(config.cache)
    cache.mkdir(parents=True, exist_ok=True)
    results: dict = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
                     "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg()}
    server = None
    started = time.monotonic()

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupted) if threading.current_thread() is threading.main_thread() else None
    try:
        if config.prewarm:
            say(f"pre-warming the cache {cache} (encodings, maps: {', '.join(config.projections)})")
            results["prewarm_s"] = round(prewarm(cache, config.projections), 1)
        port = config.port or free_port()
        server = LoadServer(port, cache, out / "server.log", config.warm_start)
        server.wait_healthy(90)
        say(f"server on {server.url} (pid {server.process.pid}), log {out / 'server.log'}")
        recorder = Recorder(server, config.sample_every, config.quiet)
        results["rss_start_mb"] = recorder.sample("start")["rss_mb"]
        budget = 300 + config.idle_wait_s + 3 * config.seconds + 10 * config.action_timeout_s
        asyncio.run(asyncio.wait_for(drive(config, launch, server, recorder, results), timeout=budget))
        results["memory_samples"] = recorder.samples
    finally:
        if server is not None:
            server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if temporary:
            shutil.rmtree(cache, ignore_errors=True)
    results["server_log"] = log_problems((out / "server.log").read_text(errors="replace"))
    results["load_average_after"] = os.getloadavg()
    results["total_s"] = round(time.monotonic() - started, 1)
    add_totals(results)
    (out / "load_run.json").write_text(json.dumps(results, indent=1))
    return results


def add_totals(results: dict) -> None:
    """Totals over the sessions, added to ``results``."""
    sessions = results.get("sessions", [])
    single = results.get("single", {})
    load = results.get("concurrent_slider_ms", [])
    results["totals"] = {
        "page_errors": sum(len(s["errors"]) for s in sessions) + len(single.get("errors", [])),
        "server_tracebacks": results["server_log"]["tracebacks"],
        "blocked_requests": sum(len(s["blocked_requests"]) for s in sessions) + len(single.get("blocked_requests", [])),
        "slider_updates": len(load),
        "sessions_without_slider_updates": sum(1 for s in sessions if s["slider_updates"] == 0),
        "single_p50_ms": single.get("slider_p50_ms"), "single_p95_ms": single.get("slider_p95_ms"),
        "load_p50_ms": percentile(load, 50), "load_p95_ms": percentile(load, 95),
        "map_p50_ms": percentile(results.get("concurrent_map_ms", []), 50),
        "upload_p50_ms": percentile(results.get("concurrent_upload_ms", []), 50),
        "rss_growth": (results["rss_end_mb"] / results["rss_after_warm_up_mb"]
                       if results.get("rss_after_warm_up_mb") and results.get("rss_end_mb") else None),
    }

