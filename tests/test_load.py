"""Concurrent sessions on a real server: a short version of ``python -m benchmarks.load_run``.

Three headless Chromium sessions open the app on a cold server at the same moment (nothing
cached: they race to load the model and encode the dataset), do a warm-up round each, then
drag sliders, change the map and upload digits for 15 s, all at once. No page may show an exception, no
action may fail, the server log may hold no traceback, every session must see its slider
updates, and the server's memory may not keep growing.

The server runs with LATENT_EXPLORER_WARM_START=0 and only PCA maps: on a two-core CI machine
the warm start's background t-SNE and UMAP fits (about 20 CPU seconds) would compete with three
browsers and the server during the 15 s, which makes the run slow and its timings noisy.
``python -m benchmarks.load_run`` runs the app's real default (warm start on, every projection).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.load.config import Config
from benchmarks.load.run import run


@pytest.mark.load
@pytest.mark.browser
def test_three_sessions_at_once_without_errors_or_memory_growth(tmp_path):
    config = Config(sessions=3, seconds=15, out=tmp_path / "out", cache=tmp_path / "cache", prewarm=False,
                    warm_start=False, projections=("pca",), baseline_presses=0, burst=4, sample_every=5.0,
                    linger_s=1.0, idle_wait_s=45.0, action_timeout_s=60.0, press_timeout_s=20.0)
    # On a thread of its own: the browser tests' sync Playwright keeps an event loop running on
    # this thread for the whole session, and the load run drives its browsers with asyncio.run.
    with ThreadPoolExecutor(max_workers=1) as pool:
        results = pool.submit(run, config).result()
    totals = results["totals"]
    errors = [e for s in results["sessions"] for e in s["errors"]]
    assert totals["page_errors"] == 0, "errors in the pages:\n" + "\n".join(errors[:20])
    log = results["server_log"]
    assert totals["server_tracebacks"] == 0, "tracebacks in the server log:\n" + "\n\n".join(log["traceback_excerpts"])
    assert totals["blocked_requests"] == 0, "the browser asked for something other than the local server"
    for session in results["sessions"]:
        assert session["slider_updates"] > 0, session
    assert results["rss_end_mb"] <= 1.5 * results["rss_after_warm_up_mb"], results["memory_samples"]
