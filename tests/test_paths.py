"""Typed paths, uploaded checkpoint files and the disk cache under hostile or odd input.

Paths go through ``paths.resolve_user_path`` and checkpoints through ``engine_cache.engine_for``,
as the sidebar does; uploads through ``checkpoint_uploads.store_upload``; cache entries through
``cache.load`` / ``cache.store`` and their real users (the projection and encoding caches)."""
from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_safetensors

from explorer import cache, cache_budget, projection
from explorer.engine import InferenceEngine
from explorer.checkpoint import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, load
from explorer.data import Dataset
from explorer.cache import file_signature
from explorer.shipped import SHIPPED_DIR
from explorer.ui import engine_cache
from explorer.ui.checkpoint_uploads import store_upload
from explorer.ui.dataset_cache import dataset_for
from explorer.ui.engine_cache import engine_for
from explorer.shipped import REPO
from explorer.ui.paths import ROOTS_ENV, named_roots, resolve_user_path

SHIPPED = SHIPPED_DIR / "mnist-ae"
OUTSIDE = "is outside the folders this app may read"


def open_typed_checkpoint(text: str):
    """What the sidebar does with the path box: resolve, then load through the shared engine cache."""
    return engine_for(resolve_user_path(text))


def refused_path(text: str, *fragments: str) -> str:
    with pytest.raises(ValueError) as info:
        resolve_user_path(text)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- resolve_user_path ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["checkpoints/mnist-ae", "  checkpoints/mnist-ae/  ", str(SHIPPED),
                                  "checkpoints/mnist-ae/model.safetensors"])
def test_path_under_checkpoints_is_accepted(text):
    resolved = resolve_user_path(text)
    assert resolved.is_absolute() and resolved.exists()
    assert SHIPPED_DIR.resolve() in resolved.parents


@pytest.mark.parametrize("text", ["checkpoints/../checkpoints/mnist-ae", "checkpoints/mnist-ae/../../app.py",
                                  f"{SHIPPED_DIR}/../checkpoints/mnist-ae", "../../etc/passwd"])
def test_dotdot_is_refused(text):
    refused_path(text, "'..' are not accepted")


@pytest.mark.parametrize("text", ["/etc/passwd", "/", "app.py", "~/.ssh/id_rsa", "explorer/checkpoint.py"])
def test_path_outside_the_roots_is_refused(text, roots):
    message = refused_path(text, OUTSIDE, ROOTS_ENV)
    # the allowed folders are named relative to the app, never by the server's absolute paths
    assert "(checkpoints/, data/, " in message and str(REPO) not in message


@pytest.mark.parametrize("text", ["~root/.bashrc", "~nosuchuser/x", "~/no/such/thing", "/no/such/place",
                                  "/etc/passwd", "~"])
def test_everything_outside_the_roots_gets_the_same_message(text, roots):
    """Whether a place outside exists, or a user of that name does, is nobody's business: only
    "~/" expands ("~root" had another message than "~nosuchuser"), and the message is one."""
    message = refused_path(text, OUTSIDE)
    assert message == f"{text} is outside the folders this app may read ({', '.join(n for _, n in named_roots())}); " \
                      f"set {ROOTS_ENV} to allow more"


def test_a_link_loop_outside_the_roots_is_not_described(roots):
    allowed, outside = roots
    (outside / "a").symlink_to(outside / "b")
    (outside / "b").symlink_to(outside / "a")
    (allowed / "door").symlink_to(outside / "a")
    for text in (str(outside / "a"), str(allowed / "door"), str(allowed / "door" / "x")):
        message = refused_path(text, OUTSIDE)
        assert "loops back" not in message and "leads nowhere" not in message


def test_sibling_whose_name_starts_like_a_root_is_refused(roots):
    allowed, _ = roots
    evil = allowed.parent / (allowed.name + "-evil")
    evil.mkdir()
    (evil / "model.safetensors").write_bytes(b"x")
    refused_path(str(evil / "model.safetensors"), OUTSIDE)


@pytest.mark.parametrize("what", ["folder", "file"])
def test_symlink_inside_a_root_leading_outside_is_refused(roots, what):
    allowed, outside = roots
    target = outside / "secret"
    target.mkdir() if what == "folder" else target.write_text("not yours")
    (allowed / "link").symlink_to(target)
    refused_path(str(allowed / "link"), OUTSIDE)


def test_symlink_leading_to_another_allowed_place_is_followed(roots):
    allowed, _ = roots
    (allowed / "shipped").symlink_to(SHIPPED)
    assert resolve_user_path(str(allowed / "shipped")) == SHIPPED.resolve()


def test_folder_holding_a_link_to_a_file_outside_is_refused(roots):
    allowed, outside = roots
    folder = allowed / "ckpt"
    folder.mkdir()
    shutil.copy(SHIPPED / CONFIG_NAME, folder / CONFIG_NAME)
    shutil.copy(SHIPPED / WEIGHTS_NAME, outside / WEIGHTS_NAME)
    (folder / WEIGHTS_NAME).symlink_to(outside / WEIGHTS_NAME)
    refused_path(str(folder), f"{WEIGHTS_NAME} is a link to a place outside the folders this app may read")


def test_extra_roots_from_the_environment(tmp_path, monkeypatch):
    first, second = tmp_path / "one", tmp_path / "two"
    for folder in (first, second):
        folder.mkdir()
        (folder / "data.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=OUTSIDE):
        resolve_user_path(str(second / "data.npz"))
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(first), "", str(second)]))
    assert resolve_user_path(str(first / "data.npz")) == (first / "data.npz").resolve()
    assert resolve_user_path(str(second / "data.npz")) == (second / "data.npz").resolve()
    assert resolve_user_path("checkpoints/mnist-ae") == SHIPPED.resolve()  # the shipped root stays


def test_nonexistent_path_gets_a_clear_message(roots):
    allowed, _ = roots
    refused_path("checkpoints/no-such-model", "checkpoints/no-such-model: no such file or folder")
    refused_path(str(allowed / "nothing.npz"), "no such file or folder")


def test_blank_path_asks_for_one():
    refused_path("   ", "enter a path")


def test_symlink_loop_is_refused_with_a_message(roots):
    allowed, _ = roots
    (allowed / "a").symlink_to(allowed / "b")
    (allowed / "b").symlink_to(allowed / "a")
    refused_path(str(allowed / "a"), "loops back on itself")


def test_folder_holding_a_symlink_loop_is_refused(roots):
    allowed, _ = roots
    folder = allowed / "ckpt"
    folder.mkdir()
    (folder / WEIGHTS_NAME).symlink_to(folder / WEIGHTS_NAME)
    refused_path(str(folder), f"{WEIGHTS_NAME} is a link that leads nowhere (its target is missing or it loops)")


def test_overlong_and_nul_paths_are_refused_with_a_message():
    message = refused_path("checkpoints/" + "a" * 5000, "cannot be used (File name too long)", "(5,012 characters)")
    assert len(message) < 300  # the path is not echoed whole
    refused_path("checkpoints/mnist-ae\x00/config.json", "NUL character")


# --- checkpoints by path: the sidebar's resolve + engine_for ---------------------------------------
def test_checkpoint_reached_through_a_symlink_outside_is_never_loaded(roots, monkeypatch):
    allowed, outside = roots
    shutil.copytree(SHIPPED, outside / "ckpt")
    (allowed / "ckpt").symlink_to(outside / "ckpt")
    loads = []
    monkeypatch.setattr(engine_cache, "open_user_model", lambda path: loads.append(path))
    with pytest.raises(ValueError, match=OUTSIDE):
        open_typed_checkpoint(str(allowed / "ckpt"))
    assert loads == []


def test_checkpoint_copied_inside_a_root_loads(roots):
    allowed, _ = roots
    shutil.copytree(SHIPPED, allowed / "ckpt")
    engine = open_typed_checkpoint(str(allowed / "ckpt"))
    assert engine.latent_dim == 16 and engine.input_shape == (1, 28, 28)


def test_fifo_given_as_checkpoint_is_refused_without_blocking(roots):
    allowed, _ = roots
    fifo = allowed / "model.safetensors"
    os.mkfifo(fifo)
    outcome: list = []

    def attempt():
        try:
            open_typed_checkpoint(str(fifo))
        except CheckpointError as e:
            outcome.append(str(e))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader so the test process can finish
        with open(fifo, "wb"):
            pass
        pytest.fail("reading the FIFO blocked")
    assert outcome and "not a regular file" in outcome[0], outcome


def test_dataset_path_outside_the_roots_is_refused(roots):
    _, outside = roots
    np.savez(outside / "data.npz", x=np.zeros((4, 28, 28), np.float32))
    with pytest.raises(ValueError, match=OUTSIDE):
        dataset_for(str(outside / "data.npz"))


def test_dataset_npz_inside_a_root_is_read(roots):
    allowed, _ = roots
    x = np.random.default_rng(0).random((12, 28, 28)).astype(np.float32)
    np.savez(allowed / "data.npz", x=x)
    dataset = dataset_for(str(allowed / "data.npz"))
    assert dataset.x.shape == (12, 1, 28, 28)


# --- store_upload ----------------------------------------------------------------------------------
class Upload(io.BytesIO):
    """What st.file_uploader hands over: bytes with a name."""

    def __init__(self, name: str, data: bytes):
        super().__init__(data)
        self.name = name


def shipped_files() -> tuple[bytes, bytes]:
    return (SHIPPED / CONFIG_NAME).read_bytes(), (SHIPPED / WEIGHTS_NAME).read_bytes()


def uploads_dir(isolated_cache: Path) -> Path:
    return isolated_cache / "uploads"


@pytest.mark.parametrize("names, expected", [
    (["a.safetensors", "b.safetensors"], "upload one weights file (.safetensors), optionally with its config.json"),
    (["config.json"], "upload one weights file (.safetensors), optionally with its config.json; got ['config.json']"),
    ([], "upload a .safetensors (optionally with its config.json), an ONNX pair"),
    (["model.safetensors", "config.json", "other.json"], "upload at most one config.json"),
    (["model.safetensors", "notes.txt"], "not model files: ['notes.txt']"),
], ids=["two-weights", "config-only", "nothing", "two-configs", "stray-file"])
def test_store_upload_refuses_odd_sets_of_files(names, expected, isolated_cache):
    config, weights = shipped_files()
    files = [Upload(n, config if n.endswith(".json") else weights) for n in names]
    with pytest.raises(CheckpointError) as info:
        store_upload(files)
    assert expected in str(info.value)
    assert not uploads_dir(isolated_cache).exists() or not any(uploads_dir(isolated_cache).iterdir()), \
        "a refused upload left a folder behind"


def test_store_upload_of_a_real_checkpoint_loads_and_is_content_addressed(isolated_cache):
    config, weights = shipped_files()
    first = store_upload([Upload("model.safetensors", weights), Upload("config.json", config)])
    again = store_upload([Upload("config.json", config), Upload("model.safetensors", weights)])
    assert first == again and first.is_dir()
    assert sorted(p.name for p in first.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]  # no temporary files left
    assert engine_for(first).latent_dim == 16


def test_storing_the_same_upload_again_leaves_its_files_and_engine_alone(isolated_cache):
    """The sidebar stores the uploader's files on every rerun: rewriting them changed their mtime,
    so each slider move loaded the model again."""
    config, weights = shipped_files()
    files = [Upload("model.safetensors", weights), Upload("config.json", config)]
    first = store_upload(files)
    signature, engine = file_signature(first), engine_for(first)
    time.sleep(0.01)
    again = store_upload(files)
    assert again == first and file_signature(again) == signature
    assert engine_for(again) is engine


def test_old_uploads_are_evicted_beyond_the_budget_those_used_longest_ago_first(isolated_cache, monkeypatch):
    config, weights = shipped_files()
    stored = []
    for i in range(3):  # three different checkpoints: the config differs by its name
        named = json.loads(config)
        named["name"] = f"upload-{i}"
        stored.append(store_upload([Upload("model.safetensors", weights),
                                           Upload("config.json", json.dumps(named).encode())]))
        os.utime(stored[-1], (1000.0 + i, 1000.0 + i))  # stored in this order
    size = sum(f.stat().st_size for f in stored[0].iterdir())
    os.utime(stored[0], (2000.0, 2000.0))  # the first one stored again since
    monkeypatch.setenv(cache_budget.BUDGET_ENV, str(2.5 * size / 1e9))  # the cache's one budget: room for two
    newest = store_upload([Upload("model.safetensors", weights), Upload("config.json", config)])
    remaining = {p for p in uploads_dir(isolated_cache).iterdir()}
    assert newest in remaining and stored[0] in remaining  # the two stored most recently
    assert stored[1] not in remaining and stored[2] not in remaining
    assert engine_for(newest).latent_dim == 16


def test_store_upload_of_a_single_file_carrying_its_config_loads(isolated_cache):
    _, weights = shipped_files()  # the shipped file has its config in its metadata
    path = store_upload([Upload("anything.safetensors", weights)])
    assert path.is_file() and engine_for(path).latent_dim == 16


def test_store_upload_of_a_single_file_without_config_says_what_is_missing(isolated_cache):
    state = {k: v.contiguous() for k, v in load(SHIPPED).model.state_dict().items()}
    path = store_upload([Upload("weights.safetensors", save_safetensors(state))])
    with pytest.raises(CheckpointError, match="must carry its config"):
        engine_for(path)


def test_store_upload_of_a_pt_state_dict_with_config_loads(isolated_cache):
    config, _ = shipped_files()
    buf = io.BytesIO()
    torch.save(load(SHIPPED).model.state_dict(), buf)
    path = store_upload([Upload("weights.pt", buf.getvalue()), Upload("config.json", config)])
    assert engine_for(path).latent_dim == 16


class Payload:
    """Unpickling this creates ``marker``: the proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("with_config", [True, False], ids=["with-config", "alone"])
@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_uploaded_pickle_never_executes(tmp_path, with_config, how, isolated_cache):
    marker = tmp_path / "pwned"
    obj = {"encoder.net.0.weight": Payload(marker)}
    if how == "torch.save":
        buf = io.BytesIO()
        torch.save(obj, buf)
        data = buf.getvalue()
    else:
        data = pickle.dumps(obj, protocol=2)
    config, _ = shipped_files()
    files = [Upload("model.pt", data)] + ([Upload("config.json", config)] if with_config else [])
    with pytest.raises(CheckpointError) as info:
        engine_for(store_upload(files))
    assert "refused" in str(info.value) and "never unpickles" in str(info.value), str(info.value)
    assert not marker.exists(), "the pickle's code ran"


# --- the disk cache ----------------------------------------------------------------------------------
def test_concurrent_writers_and_readers_never_see_half_an_entry():
    entry = cache.key("race", 1)
    n = 300_000  # 2.4 MB per array: big enough that a write takes a while
    stop = time.monotonic() + 1.5
    seen: list[int] = []
    problems: list[str] = []
    start = threading.Barrier(6)

    def writer(value: int):
        start.wait()
        while time.monotonic() < stop:
            cache.store("race", entry, a=np.full(n, value, np.float64), b=np.full(7, value, np.int64))

    def reader():
        start.wait()
        while time.monotonic() < stop:
            try:
                hit = cache.load("race", entry)
            except Exception as e:  # noqa: BLE001 - any exception is the failure being tested
                problems.append(f"raised {type(e).__name__}: {e}")
                return
            if hit is None:
                continue
            a, b = hit.get("a"), hit.get("b")
            if set(hit) != {"a", "b"} or a.shape != (n,) or b.shape != (7,) or not (a == a[0]).all() \
                    or not (b == a[0]).all():
                problems.append(f"an incomplete or mixed entry: {sorted(hit)}")
                return
            seen.append(int(a[0]))

    threads = [threading.Thread(target=writer, args=(v,)) for v in (1, 2, 3)] + \
              [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert problems == []
    assert len(seen) > 10 and set(seen) <= {1, 2, 3}
    assert [p.name for p in (cache.cache_dir() / "race").iterdir()] == [f"{entry}.npz"]  # no temporary files


def corrupt_entries() -> dict[str, bytes]:
    good = io.BytesIO()
    np.savez(good, __complete__=np.array(True), a=np.arange(1000.0))
    unmarked = io.BytesIO()
    np.savez(unmarked, a=np.arange(10.0))
    objects = io.BytesIO()
    np.savez(objects, __complete__=np.array(True), a=np.array([{"x": 1}], dtype=object))
    return {"garbage": b"not a zip at all", "truncated": good.getvalue()[: len(good.getvalue()) // 2],
            "no-completion-marker": unmarked.getvalue(), "pickled-objects": objects.getvalue(), "empty": b""}


@pytest.mark.parametrize("kind", list(corrupt_entries()))
def test_corrupt_cache_entry_is_a_miss_and_is_removed(kind):
    entry = cache.key("corrupt", kind)
    path = cache.cache_dir() / "test" / f"{entry}.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(corrupt_entries()[kind])
    assert cache.load("test", entry) is None
    assert not path.exists()


def only_entry(kind: str) -> Path:
    (path,) = (cache.cache_dir() / kind).glob("*.npz")
    return path


def test_corrupt_projection_entry_is_recomputed():
    codes = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    first = projection.project(codes, "pca", cache_key_parts=("test",))
    assert not first.from_cache and projection.project(codes, "pca", cache_key_parts=("test",)).from_cache
    path = only_entry(projection.CACHE_KIND)
    path.write_bytes(path.read_bytes()[:100])
    again = projection.project(codes, "pca", cache_key_parts=("test",))
    assert not again.from_cache
    np.testing.assert_allclose(again.coords, first.coords, rtol=1e-5, atol=1e-5)
    assert projection.project(codes, "pca", cache_key_parts=("test",)).from_cache  # rewritten whole


def test_corrupt_encodings_entry_is_recomputed():
    engine = InferenceEngine(load(SHIPPED), device="cpu")
    x = np.random.default_rng(1).random((40, 1, 28, 28)).astype(np.float32)
    dataset = Dataset("synthetic", x, None, [])
    first = engine.encode_dataset(dataset)
    path = only_entry("encodings")
    path.write_bytes(b"PK\x03\x04" + os.urandom(200))  # looks like a zip, is not one
    again = engine.encode_dataset(dataset)
    np.testing.assert_allclose(again.codes, first.codes, rtol=1e-5, atol=1e-6)
    hit = cache.load("encodings", path.stem)
    assert hit is not None and hit["codes"].shape == (40, 16)
