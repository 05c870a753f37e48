"""InferenceEngine: same numbers as a bare model loop, coalescing under concurrency, the disk
cache, bad input. CUDA paths run when a GPU is present and are skipped otherwise."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from explorer import cache
from explorer.engine import InferenceEngine, pick_device
from explorer.checkpoint import CheckpointError, load, save
from explorer.metrics import per_sample_mse
from explorer.models import build

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory, digits):
    torch.manual_seed(0)
    model = build("vae", {"input_shape": digits.input_shape, "latent_dim": 4, "body": "conv", "channels": [8, 16]})
    return load(save(model, tmp_path_factory.mktemp("ckpt") / "vae"))


@pytest.fixture(params=["onnxruntime", "torch"])
def engine(vae_checkpoint, request):
    return InferenceEngine(vae_checkpoint, device="cpu", batch_size=100, runtime=request.param)


def bare_loop(model, x, batch):
    with torch.no_grad():
        outs = [model.encode(torch.from_numpy(x[i: i + batch])) for i in range(0, len(x), batch)]
    return np.concatenate([o.mean.numpy() for o in outs]), np.concatenate([o.logvar.numpy() for o in outs])


def test_encode_decode_reconstruct_equal_a_bare_model_loop(engine, digits):
    x = digits.x[:333]  # not a multiple of the batch size: the last batch is partial
    mean, logvar = bare_loop(engine.source.module, x, 100)
    got_mean, got_logvar = engine.encode_with_logvar(x)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_logvar, logvar, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        decoded = engine.source.module.decode(torch.from_numpy(mean)).numpy()
        recon = engine.source.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(engine.decode(mean), decoded, atol=1e-5)
    np.testing.assert_allclose(engine.reconstruct(x), recon, atol=1e-5)
    assert engine.encode(x[:0]).shape == (0, 4)


def test_progress_reaches_one_in_order(engine, digits):
    seen = []
    engine.encode(digits.x[:250], progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 3


def test_coalesced_decodes_return_each_caller_its_own_rows(engine):
    rng = np.random.default_rng(1)
    codes = rng.standard_normal((16, 4)).astype(np.float32)
    expected = engine.decode(codes)
    results: dict[int, list[np.ndarray]] = {i: [] for i in range(16)}
    barrier = threading.Barrier(16)

    def worker(i):
        barrier.wait()  # all threads request at once, so their requests share batches
        for _ in range(20):
            results[i].append(engine.decode_coalesced(codes[i]))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(16):
        assert len(results[i]) == 20
        for out in results[i]:
            assert out.shape == (1, *engine.input_shape)
            np.testing.assert_allclose(out[0], expected[i], atol=1e-5)


def test_coalescing_batches_concurrent_requests(engine, monkeypatch):
    sizes = []
    original = engine.runtime.decode_small

    def spy(z):
        sizes.append(len(z))
        return original(z)

    monkeypatch.setattr(engine.runtime, "decode_small", spy)
    engine.coalesce_window_s = 0.05
    barrier = threading.Barrier(8)
    codes = np.zeros((8, 4), np.float32)

    def worker(i):
        barrier.wait()
        engine.decode_coalesced(codes[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(sizes) == 8 and max(sizes) > 1  # some requests were served together


def test_after_a_storm_of_requests_a_lone_caller_again_decodes_on_its_own_thread():
    from explorer.coalesce import Coalescer

    ran_on = []

    def run(z):
        ran_on.append(threading.current_thread())
        time.sleep(0.0005)
        return z * 2

    coalescer = Coalescer(run, caller_runs=True)
    codes = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)
    results = {}

    def caller(i):
        results[i] = [coalescer.submit(codes[i: i + 1]) for _ in range(30)]

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert all(np.array_equal(r, codes[i: i + 1] * 2) for i in range(16) for r in results[i])
        assert any(t in coalescer.threads for t in ran_on)  # the lanes served batches
        # every caller was counted out of submit, so the next lone caller finds nothing running
        assert (coalescer._callers, coalescer._in_flight, coalescer._pending) == (0, 0, [])
        ran_on.clear()
        np.testing.assert_array_equal(coalescer.submit(codes[:1]), codes[:1] * 2)
        assert ran_on == [threading.current_thread()]
    finally:
        coalescer.close()


def test_a_request_arriving_while_a_batch_runs_is_served_in_another_lane(vae_checkpoint, monkeypatch):
    engine = InferenceEngine(vae_checkpoint, device="cpu", coalesce_lanes=2)
    first_running, release_first = threading.Event(), threading.Event()
    original = engine.runtime.decode_small

    def slow_first(z):
        if not first_running.is_set():
            first_running.set()
            assert release_first.wait(10)
        return original(z)

    monkeypatch.setattr(engine.runtime, "decode_small", slow_first)
    codes = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    first: list[np.ndarray] = []
    blocked = threading.Thread(target=lambda: first.append(engine.decode_coalesced(codes[0])))
    blocked.start()
    assert first_running.wait(10)
    second = engine.decode_coalesced(codes[1])  # returns although the first batch is still running
    assert not first
    release_first.set()
    blocked.join(10)
    expected = engine.decode(codes)
    np.testing.assert_allclose(first[0][0], expected[0], atol=1e-5)
    np.testing.assert_allclose(second[0], expected[1], atol=1e-5)


def test_a_coalesced_decode_does_not_wait_for_a_long_job(engine):
    """A slider stays live while the same model encodes a dataset (which holds the engine lock)."""
    with engine._lock:
        out = engine.decode_coalesced(np.zeros(4, np.float32))
    np.testing.assert_allclose(out, engine.decode(np.zeros((1, 4), np.float32)), atol=1e-6)


def test_a_failing_batch_raises_in_every_caller_and_the_worker_survives(engine):
    with pytest.raises(ValueError, match="latent size"):
        engine.decode_coalesced(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        engine.decode_coalesced(np.array([np.nan, 0, 0, 0], np.float32))
    assert engine.decode_coalesced(np.zeros(4, np.float32)).shape == (1, 1, 8, 8)


def test_coalesced_decodes_run_on_one_thread_and_leave_other_threads_alone(vae_checkpoint):
    """A slider's decode is ~1 ms of work: the coalescer runs it on its own thread alone, without
    changing the thread count of the caller or of threads started later (script runs)."""
    torch.set_num_threads(2)  # conftest runs the tests on one; the app runs on torch's default
    try:
        engine = InferenceEngine(vae_checkpoint, device="cpu", runtime="torch")
        seen: list[int] = []
        decode = engine.runtime.decode_small

        def recording(z):
            seen.append(torch.get_num_threads())
            return decode(z)

        engine.runtime.decode_small = recording
        engine.decode_coalesced(np.zeros(4, np.float32))
        later: list[int] = []
        thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert seen == [1]
        assert torch.get_num_threads() == 2 and later == [2]
    finally:
        torch.set_num_threads(1)


def test_onnxruntime_small_decodes_run_on_a_one_thread_session(vae_checkpoint):
    engine = InferenceEngine(vae_checkpoint, device="cpu")
    assert engine.describe_device() == "CPU, onnxruntime"
    assert engine.runtime.decoder_small.get_session_options().intra_op_num_threads == 1
    assert engine.runtime.decoder.get_session_options().intra_op_num_threads == torch.get_num_threads()


def test_a_lone_onnxruntime_decode_runs_on_its_callers_thread(vae_checkpoint, monkeypatch):
    engine = InferenceEngine(vae_checkpoint, device="cpu")
    seen = []
    original = engine.runtime.decode_small

    def recording(z):
        seen.append(threading.current_thread())
        return original(z)

    monkeypatch.setattr(engine.runtime, "decode_small", recording)
    engine.decode_coalesced(np.zeros(4, np.float32))
    assert seen == [threading.current_thread()] and not engine.coalescer.threads  # no hand-off, no lane started


def test_closing_an_engine_ends_its_coalescer_threads_and_it_keeps_serving(vae_checkpoint):
    engine = InferenceEngine(vae_checkpoint, device="cpu", runtime="torch")  # torch: always in a lane
    expected = engine.decode(np.zeros((1, 4), np.float32))
    engine.decode_coalesced(np.zeros(4, np.float32))
    threads = engine.coalescer.threads
    assert len(threads) == 2 and all(t.is_alive() for t in threads)
    engine.close()
    assert not any(t.is_alive() for t in threads)
    engine.close()  # idempotent
    # A session that still holds an evicted engine is served on its own thread.
    np.testing.assert_allclose(engine.decode_coalesced(np.zeros(4, np.float32)), expected, atol=1e-6)
    assert engine.coalescer.threads == threads and not any(t.is_alive() for t in threads)


def test_an_engine_nobody_holds_is_freed_and_its_threads_end(vae_checkpoint):
    """Defect 4: the coalescer's threads used to hold the engine (and its model) for good."""
    import gc
    import weakref

    engine = InferenceEngine(vae_checkpoint, device="cpu", runtime="torch")
    engine.decode_coalesced(np.zeros(4, np.float32))
    threads = engine.coalescer.threads
    assert threads
    ref = weakref.ref(engine)
    del engine
    gc.collect()
    assert ref() is None
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)


def test_an_engine_evicted_from_the_engine_cache_is_closed_and_freed(vae_checkpoint, monkeypatch):
    import gc
    import weakref

    from explorer.ui import engine_cache

    monkeypatch.setenv("LATENT_EXPLORER_RUNTIME", "torch")  # its lanes always start
    size = InferenceEngine(vae_checkpoint, device="cpu", runtime="torch").memory_bytes()
    cache = engine_cache.EngineCache(lambda: 3 * size)  # room for three
    refs, threads = [], []
    for i in range(4):
        engine = cache.get((f"/nowhere/{i}",), "sig", lambda: InferenceEngine(vae_checkpoint, device="cpu"))
        engine.decode_coalesced(np.zeros(4, np.float32))
        refs.append(weakref.ref(engine))
        threads.append(engine.coalescer.threads)
        del engine
    first_threads = threads[0]
    assert first_threads
    assert not any(t.is_alive() for t in first_threads)  # closed on eviction, at once
    gc.collect()
    assert refs[0]() is None  # and freed
    assert refs[-1]() is not None and len(cache) == 3  # the cache still holds the newest three
    cache.clear()
    gc.collect()
    assert all(r() is None for r in refs)


def test_the_engine_cache_stays_under_its_byte_limit_least_recently_used_out(monkeypatch):
    """32 models of any size were kept, with no byte limit."""
    from explorer.ui import engine_cache

    class Sized:
        def __init__(self, mb: int):
            self.mb, self.closed = mb, False

        def memory_bytes(self) -> int:
            return self.mb * 2**20

        def close(self) -> None:
            self.closed = True

    cache = engine_cache.EngineCache(lambda: 100 * 2**20)
    made = {}

    def get(name: str, mb: int):
        return cache.get((name,), "sig", lambda: made.setdefault(name, Sized(mb)))

    for name, mb in [("a", 40), ("b", 30), ("c", 20)]:
        get(name, mb)
    assert get("a", 40) is made["a"]  # used again: now the most recently used
    for name, mb in [("d", 35), ("e", 10), ("f", 60)]:
        get(name, mb)
        assert cache.used_bytes() <= 100 * 2**20
    assert [made[n].closed for n in "abcdef"] == [True, True, True, True, False, False]
    with pytest.raises(CheckpointError, match="the model takes about 101 MB in memory, more than the 100 MB this "
                                              "server keeps for models"):
        get("huge", 101)
    assert made["huge"].closed and cache.used_bytes() == 70 * 2**20


def test_the_keras_bottleneck_is_part_of_the_key_only_for_models_that_use_it(vae_checkpoint, monkeypatch, tmp_path):
    """Five bottleneck texts made five copies of a model that ignores them; a 100,000-character
    text was kept as a key for good."""
    from explorer.ui import engine_cache

    opened = []
    monkeypatch.setattr(engine_cache, "open_user_model",
                        lambda path, bottleneck=None: opened.append(bottleneck) or vae_checkpoint)
    folder = tmp_path / "native"
    folder.mkdir()
    engines = {id(engine_cache.engine_for(folder, bottleneck=text)) for text in ["", "a", "b", "c", "x" * 100_000]}
    assert len(engines) == 1 and opened == [None]
    keras_file = tmp_path / "model.keras"
    keras_file.write_bytes(b"PK")
    assert engine_cache.engine_for(keras_file, bottleneck="z") is not engine_cache.engine_for(keras_file, bottleneck="y")
    assert opened == [None, "z", "y"]
    with pytest.raises(CheckpointError, match="the bottleneck layer's name is 100,000 characters long"):
        engine_cache.engine_for(keras_file, bottleneck="x" * 100_000)
    assert len(engine_cache.ENGINES) == 3


def test_a_changed_checkpoint_file_releases_the_previous_engine(vae_checkpoint, monkeypatch, tmp_path):
    from explorer.ui import engine_cache

    monkeypatch.setattr(engine_cache, "open_user_model", lambda path, bottleneck=None: vae_checkpoint)
    signatures = iter(["v1", "v2"])
    monkeypatch.setattr(engine_cache, "file_signature", lambda path: next(signatures))
    old = engine_cache.engine_for(tmp_path)
    old.decode_coalesced(np.zeros(4, np.float32))
    new = engine_cache.engine_for(tmp_path)
    assert new is not old and old.coalescer.closed and not new.coalescer.closed
    assert len(engine_cache.ENGINES) == 1


def test_on_a_serial_device_one_lane_runs_forward_passes_one_at_a_time(vae_checkpoint, monkeypatch):
    """Defect 3: PyTorch's MPS backend does not support forward passes from two threads at once.
    The device type is forced (no MPS here): the engine then runs one lane under its lock."""
    import explorer.engine as backend

    monkeypatch.setattr(backend, "SERIAL_DEVICE_TYPES", frozenset({"cpu"}))
    engine = InferenceEngine(vae_checkpoint, device="cpu", coalesce_lanes=2)
    assert engine.serial_forward and engine.coalescer.lanes == 1
    running, overlap = [0], []
    original = engine.runtime.decode_small

    def counting(z):
        assert engine._lock.locked()  # the lock that big jobs take
        running[0] += 1
        overlap.append(running[0])
        try:
            time.sleep(0.002)
            return original(z)
        finally:
            running[0] -= 1

    monkeypatch.setattr(engine.runtime, "decode_small", counting)
    barrier = threading.Barrier(6)

    def worker():
        barrier.wait()
        for _ in range(5):
            engine.decode_coalesced(np.zeros(4, np.float32))

    pool = [threading.Thread(target=worker) for _ in range(6)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert overlap and max(overlap) == 1
    assert len(engine.coalescer.threads) == 1
    # elsewhere: two lanes, no lock
    monkeypatch.setattr(backend, "SERIAL_DEVICE_TYPES", frozenset({"mps"}))
    assert InferenceEngine(vae_checkpoint, device="cpu").coalescer.lanes == 2


def test_bad_images_are_refused_with_a_message(engine):
    with pytest.raises(ValueError, match=r"do not fit this model, which expects \[1, 8, 8\]"):
        engine.encode(np.zeros((2, 1, 28, 28), np.float32))
    bad = np.zeros((2, 1, 8, 8), np.float32)
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        engine.reconstruct(bad)


def test_dataset_encoding_is_cached_on_disk_and_a_corrupt_entry_is_recomputed(engine, digits, monkeypatch):
    first = engine.encode_dataset(digits)
    assert first.codes.shape == (len(digits.x), 4) and first.logvar.shape == first.codes.shape
    np.testing.assert_allclose(first.errors, per_sample_mse(digits.x, engine.reconstruct(digits.x)), rtol=1e-5)
    mean, logvar = engine.encode_with_logvar(digits.x)
    np.testing.assert_array_equal(first.codes, mean)
    np.testing.assert_array_equal(first.logvar, logvar)
    files = list((cache.cache_dir() / "encodings").glob("*.npz"))
    assert len(files) == 1

    def must_not_run(*args, **kwargs):
        raise AssertionError("encoded again despite the disk cache")

    monkeypatch.setattr(engine, "_batched", must_not_run)
    hit = engine.encode_dataset(digits)
    np.testing.assert_array_equal(hit.codes, first.codes)
    monkeypatch.undo()

    files[0].write_bytes(files[0].read_bytes()[:200])  # a half-written / corrupt file
    again = engine.encode_dataset(digits)
    np.testing.assert_allclose(again.codes, first.codes, atol=1e-6)
    assert cache.load("encodings", files[0].stem) is not None  # rewritten whole


def test_device_choice_can_be_overridden(monkeypatch):
    """Without CUDA or MPS, "cpu" is also what is picked anyway: the override is shown with
    "meta", a device torch never picks on its own, and the argument beats the environment."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device().type == "cpu"
    monkeypatch.setenv("LATENT_EXPLORER_DEVICE", "meta")
    assert pick_device().type == "meta"
    assert pick_device("cpu").type == "cpu"
    monkeypatch.delenv("LATENT_EXPLORER_DEVICE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"  # the default prefers CUDA where there is one


@CUDA
def test_cuda_mixed_precision_matches_float32(vae_checkpoint, digits):
    cpu = InferenceEngine(vae_checkpoint, device="cpu")
    reference = cpu.encode(digits.x)
    gpu = InferenceEngine(load(vae_checkpoint.path), device="cuda")
    assert gpu.autocast_dtype in (torch.bfloat16, torch.float16)
    codes = gpu.encode(digits.x)
    assert codes.shape == reference.shape and codes.dtype == np.float32
    np.testing.assert_allclose(codes, reference, atol=0.05, rtol=0.05)
    images = gpu.decode(reference[:64])
    np.testing.assert_allclose(images, cpu.decode(reference[:64]), atol=0.02)
    out = gpu.decode_coalesced(reference[0])
    np.testing.assert_allclose(out[0], cpu.decode(reference[:1])[0], atol=0.02)


def test_a_memory_mapped_uint8_dataset_is_encoded_batch_by_batch(engine, digits, monkeypatch):
    """A large dataset's uint8 store is never converted to float32 whole (50,000 shapes would be 2.4 GB)."""
    from explorer.data import Dataset, UnitImages

    pixels = np.round(digits.x[:600] * 255).astype(np.uint8)
    store = Dataset("uint8-digits", UnitImages(pixels), digits.y[:600], digits.classes, content_key="uint8-digits")
    monkeypatch.setattr(UnitImages, "__array__", lambda self, dtype=None, copy=None: pytest.fail("converted whole"))
    codes = engine.encode_dataset(store)
    np.testing.assert_allclose(codes.codes, engine.encode(pixels.astype(np.float32) / 255), atol=1e-5)
