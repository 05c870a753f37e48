"""The job store behind the background maps: one computation per map for all sessions, results
kept within a byte budget, failures recorded (bounded) and retried later, and workers that never
touch Streamlit's script context."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import CancelledError, ThreadPoolExecutor

import numpy as np
import pytest

from explorer.ui import jobs, map_jobs

MB = 2**20


def wait(future):
    """The job's result, or its error's message."""
    try:
        return future.result(timeout=30)
    except RuntimeError as e:
        return str(e)


def test_a_map_asked_for_by_many_sessions_at_once_is_computed_once(monkeypatch):
    """Looking a job up and submitting it were two steps: sessions arriving together (a slow
    submit widens the gap) each started the same map."""
    store, calls = jobs.JobStore(), []
    real_submit = ThreadPoolExecutor.submit

    def slow_submit(self, *args, **kwargs):
        time.sleep(0.05)
        return real_submit(self, *args, **kwargs)

    monkeypatch.setattr(ThreadPoolExecutor, "submit", slow_submit)
    start = threading.Barrier(8)

    def session():
        start.wait()
        return store.submit("map", lambda progress: calls.append(1) or "done")

    with ThreadPoolExecutor(max_workers=8) as sessions:
        futures = list(sessions.map(lambda _: session(), range(8)))
    assert {wait(f) for f in futures} == {"done"} and calls == [1]
    assert len({id(f) for f in futures}) == 1


def test_finished_maps_are_kept_within_the_byte_budget_least_recently_asked_for_first():
    store = jobs.JobStore(max_bytes=3 * MB)
    computed = []

    def result(name):
        def compute(progress):
            computed.append(name)
            return {"coords": np.zeros(MB // 8)}  # 1 MB

        return compute

    for name in "abcd":
        wait(store.submit(name, result(name)))
        if name == "b":
            wait(store.submit("a", result("a")))  # asked for again: kept over b
    assert computed == ["a", "b", "c", "d"]
    for name in "acd":  # kept: 3 MB
        wait(store.submit(name, result(name)))
    assert computed == ["a", "b", "c", "d"]
    wait(store.submit("b", result("b")))  # evicted: computed again (from the disk cache, in the app)
    assert computed == ["a", "b", "c", "d", "b"]


def test_failure_records_are_bounded():
    store, calls = jobs.JobStore(max_failures=4), []

    def failing(progress):
        calls.append(1)
        progress(0.5)
        raise RuntimeError("broken")

    for k in range(10):
        assert wait(store.submit(f"job{k}", failing)) == "broken"
    for k in range(6, 10):  # the last four failures are remembered: not started again
        assert wait(store.submit(f"job{k}", failing)) == "broken"
    assert len(calls) == 10 and store.progress("job0") == 0.0  # the oldest are forgotten, progress and all
    assert wait(store.submit("job0", failing)) == "broken" and len(calls) == 11


def test_a_failed_map_is_shown_as_failed_then_retried_after_a_while():
    store, attempts = jobs.JobStore(retry_after_s=0.3), []

    def flaky(progress):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("out of memory")
        return "map"

    first = store.submit("map", flaky)
    assert wait(first) == "out of memory"
    assert store.submit("map", flaky) is first and len(attempts) == 1  # not again on every rerun
    time.sleep(0.35)
    assert wait(store.submit("map", flaky)) == "map" and len(attempts) == 2
    assert wait(store.submit("map", flaky)) == "map" and len(attempts) == 2


def test_progress_is_reported_while_running_and_cleared_with_the_store():
    store, gate = jobs.JobStore(), threading.Event()

    def slow(progress):
        progress(0.25)
        gate.wait(10)
        return "done"

    future = store.submit("map", slow)
    deadline = time.monotonic() + 10
    while store.progress("map") != 0.25:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gate.set()
    assert wait(future) == "done" and store.progress("map") == 1.0
    store.clear()
    assert store.progress("map") == 0.0


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_the_worker_never_needs_a_script_context(method, caplog):
    """The worker once read its progress and failure records through Streamlit-cached
    functions, which log "missing ScriptRunContext" from a thread that is not a script run."""
    jobs.clear()
    codes = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    params = {"tsne": {"n_iter": 60}, "umap": {"n_epochs": 20}}[method]
    with caplog.at_level(logging.DEBUG):
        future = map_jobs._start(map_jobs.Source(("model", "dataset")), codes, method, params)
        assert future.result(timeout=120).coords.shape == (200, 2)
    warnings = [r.getMessage() for r in caplog.records if "ScriptRunContext" in r.getMessage()]
    assert warnings == []


# --- a fair queue ---------------------------------------------------------------------------------
@pytest.fixture
def gate():
    """Opened after the test whatever happens: a job left waiting on it would keep its worker
    thread, and with it the test process (the executor's threads are joined at exit), alive."""
    event = threading.Event()
    yield event
    event.set()


def gated(gate: threading.Event, ran: list, name: str):
    """A job that runs until ``gate`` opens, reporting progress meanwhile (where a cancelled job stops)."""
    def compute(progress):
        ran.append(name)
        while not gate.wait(0.01):
            progress(0.5)
        return name

    return compute


def wait_until_running(store: jobs.JobStore, key: str) -> None:
    deadline = time.monotonic() + 30
    while store.status(key).state != "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_flood_of_maps_from_one_session_queues_one_and_cancels_the_rest(gate):
    """One session asking for t-SNE with seeds 1, 2, 3, ... queued every one of them behind each
    other, on the one worker every session shares."""
    store, ran = jobs.JobStore(), []
    futures = [store.submit("seed0", gated(gate, ran, "seed0"), session="flood")]
    wait_until_running(store, "seed0")
    futures += [store.submit(f"seed{n}", gated(gate, ran, f"seed{n}"), session="flood") for n in range(1, 10)]
    assert store.queued() <= 1 and store.status("seed9", "flood").state in ("queued", "running")
    for future in futures[:9]:  # replaced: never started, or (the worker was quicker than the flood) stopped
        with pytest.raises(CancelledError):  # at its next progress report, as the running first one was
            future.result(timeout=30)
    gate.set()
    assert futures[9].result(timeout=30) == "seed9" and ran[0] == "seed0" and ran[-1] == "seed9"


def test_the_queue_refuses_a_ninth_waiting_map_busy_try_again(gate):
    store, ran = jobs.JobStore(max_queued=lambda: 8), []
    store.submit("running", gated(gate, ran, "running"), session="s0")
    wait_until_running(store, "running")
    queued = [store.submit(f"map{n}", gated(gate, ran, f"map{n}"), session=f"s{n}") for n in range(1, 9)]
    assert store.queued() == 8
    with pytest.raises(jobs.Busy, match="the server is busy: 8 maps are already waiting to be computed. Try again in "
                                        "a minute"):
        store.submit("map9", gated(gate, ran, "map9"), session="s9")
    assert store.status("map8", "s8") == jobs.JobStatus("queued", ahead=8)  # the running one and seven before it
    # a session already in the queue may still change its mind: its new map takes its place
    store.submit("map1-again", gated(gate, ran, "map1-again"), session="s1")
    assert queued[0].cancelled() and store.queued() == 8
    gate.set()
    assert all(f.result(timeout=30) for f in queued[1:])


def test_a_map_nobody_waits_for_any_more_is_cancelled(gate):
    """A session whose tab was closed stops asking about its map: after a while it is dropped, and
    with nobody left waiting the map is not computed (queued) or stopped (running)."""
    store, ran = jobs.JobStore(waiter_timeout_s=0.3), []
    running = store.submit("a", gated(gate, ran, "a"), session="gone")
    queued = store.submit("b", gated(gate, ran, "b"), session="also-gone")
    shared = store.submit("c", gated(gate, ran, "c"), session="stays")
    store.submit("c", gated(gate, ran, "c"), session="gone-too")  # c has two waiters
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # "stays" keeps polling, as the Map page does every second
        assert store.status("c", "stays").state in ("queued", "running")
        time.sleep(0.05)
    assert queued.cancelled() and not shared.cancelled()
    with pytest.raises(CancelledError):
        running.result(timeout=30)
    gate.set()
    assert shared.result(timeout=30) == "c" and ran == ["a", "c"]


def test_the_maps_the_server_warms_itself_are_never_cancelled(gate):
    store, ran = jobs.JobStore(waiter_timeout_s=0.0), []
    warm = store.submit("warm", gated(gate, ran, "warm"))  # session None: the server's own
    store.submit("warm", gated(gate, ran, "warm"), session="s")
    store.submit("other", gated(gate, ran, "other"), session="s")  # s moves on
    time.sleep(0.05)
    assert store.status("warm").state == "running"
    gate.set()
    assert warm.result(timeout=30) == "warm"
