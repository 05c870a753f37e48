"""Folders and .npz files of any size and colour: plain preprocessing, modes, the disk cache
keyed by the listing (issue 9 defect 6), loose images, unreadable files, parallel decoding."""
from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from explorer import data, dataset_spec, folders, preprocess
from explorer.data import DatasetError
from explorer.ui.dataset_cache import dataset_for


def solid(mode: str, size: tuple[int, int], value) -> Image.Image:
    return Image.new(mode, size, value)


def banded(width: int, height: int) -> Image.Image:
    """Blue left quarter, green middle, red right quarter: a centre crop keeps only the green."""
    a = np.zeros((height, width, 3), np.uint8)
    a[:, : width // 4] = (0, 0, 255)
    a[:, width // 4: width - width // 4] = (0, 255, 0)
    a[:, width - width // 4:] = (255, 0, 0)
    return Image.fromarray(a, "RGB")


def colour_model(side: int):
    """What dataset_for reads of a model: a colour input of ``side``, trained on nothing recorded."""
    return SimpleNamespace(input_shape=(3, side, side), trained_on=None, trained_preprocessing=None)


def load_colour(path, **kw) -> data.Dataset:
    return data.load_dataset(str(path), size=kw.pop("size", 8), channels=kw.pop("channels", 3), **kw)


def test_colour_folder_of_mixed_sizes_and_modes(tmp_path):
    (tmp_path / "c").mkdir()
    solid("RGB", (40, 30), (255, 0, 0)).save(tmp_path / "c" / "a_rgb.png")
    banded(80, 40).save(tmp_path / "c" / "b_wide.png")
    solid("L", (9, 17), 200).save(tmp_path / "c" / "c_gray.png")
    solid("I;16", (12, 12), 32896).save(tmp_path / "c" / "d_16bit.png")  # 32896 / 65535 = 128 / 255
    palette = solid("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.save(tmp_path / "c" / "e_palette.png")
    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[:, :10] = (255, 255, 0, 255)  # opaque yellow left half, transparent right half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "c" / "f_rgba.png")
    solid("RGB", (16, 16), (0, 128, 255)).save(tmp_path / "c" / "g_photo.jpg", quality=100)
    solid("CMYK", (8, 8), (0, 0, 0, 0)).save(tmp_path / "c" / "h_cmyk.tif")  # white
    solid("1", (8, 8), 1).save(tmp_path / "c" / "i_bilevel.bmp")

    ds = load_colour(tmp_path)
    assert ds.skipped == [] and ds.preprocessing == "plain"
    assert ds.x.shape == (9, 3, 8, 8) and ds.x.dtype == np.float32
    colour = {name: ds.x[i] for i, name in enumerate(["rgb", "wide", "gray", "16bit", "palette", "rgba",
                                                      "jpeg", "cmyk", "bilevel"])}
    assert np.allclose(colour["rgb"], np.array([1, 0, 0])[:, None, None])
    assert np.allclose(colour["wide"], np.array([0, 1, 0])[:, None, None], atol=0.02)  # centre crop: green only
    assert np.allclose(colour["gray"], 200 / 255)
    assert np.allclose(colour["16bit"], 128 / 255, atol=0.5 / 255)  # scaled from 16 bits, not clipped to white
    assert np.allclose(colour["palette"], np.array([0, 0, 1])[:, None, None])
    # the centre crop of the RGBA image: yellow on the left, the transparent half on black
    assert np.allclose(colour["rgba"][:, :, :3], np.array([1, 1, 0])[:, None, None], atol=0.02)
    assert np.allclose(colour["rgba"][:, :, 5:], 0, atol=0.02)
    assert np.allclose(colour["jpeg"], np.array([0, 128 / 255, 1])[:, None, None], atol=3 / 255)
    assert np.allclose(colour["cmyk"], 1) and np.allclose(colour["bilevel"], 1)
    gray = data.load_dataset(str(tmp_path), size=8, channels=1, preprocessing="plain")
    assert gray.x.shape == (9, 1, 8, 8)
    assert np.allclose(gray.x[0], 0.299, atol=1 / 255)  # red's luminance


def test_plain_preprocessing_of_an_upload():
    import io

    buf = io.BytesIO()
    banded(60, 30).save(buf, format="PNG")
    colour = preprocess.preprocess_plain_bytes(buf.getvalue(), size=10, channels=3)
    assert colour.image.shape == (3, 10, 10) and colour.image.dtype == np.float32
    assert np.allclose(colour.image, np.array([0, 1, 0])[:, None, None], atol=0.02)
    assert "centre-cropped from 60x30 to a square" in colour.notes
    gray = preprocess.preprocess_plain_bytes(buf.getvalue(), size=10, channels=1)
    assert gray.image.shape == (10, 10) and np.allclose(gray.image, 0.587, atol=0.01)


def test_default_preprocessing():
    assert dataset_spec.default_preprocessing([1, 28, 28], "mnist") == "digit"
    assert dataset_spec.default_preprocessing([1, 8, 8], "digits") == "digit"
    assert dataset_spec.default_preprocessing([3, 64, 64], "mnist") == "plain"
    assert dataset_spec.default_preprocessing([1, 28, 28], "/data/fashion") == "plain"
    assert dataset_spec.default_preprocessing([1, 28, 28], None) == "plain"
    with pytest.raises(DatasetError, match="digit preprocessing makes 1-channel images"):
        data.load_dataset("/tmp", size=8, channels=3, preprocessing="digit")


def test_second_open_reads_the_cache(tmp_path, monkeypatch):
    for i in range(3):
        solid("RGB", (10, 10), (80 * i, 0, 0)).save(tmp_path / f"{i}.png")
    first = load_colour(tmp_path)
    monkeypatch.setattr(folders, "decode_file", lambda *a: pytest.fail("decoded again"))
    again = load_colour(tmp_path)
    assert again.identity == first.identity and np.array_equal(again.x[:], first.x[:])
    # another target shape or preprocessing is another entry
    monkeypatch.undo()
    assert load_colour(tmp_path, size=4).x.shape == (3, 3, 4, 4)


def touch_later(path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_a_changed_file_in_a_subfolder_is_noticed(tmp_path):
    """Issue 9 defect 6: the cache key saw only the top folder's mtime."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        solid("RGB", (10, 10), (255, 0, 0)).save(tmp_path / name / "0.png")
    before = dataset_spec.source_signature(str(tmp_path))
    top_mtime = tmp_path.stat().st_mtime_ns
    first = load_colour(tmp_path)
    assert np.allclose(first.x[1][0], 1)
    # the same size of file, new content, inside a class subfolder: the top folder does not change
    solid("RGB", (10, 10), (0, 0, 255)).save(tmp_path / "b" / "0.png")
    touch_later(tmp_path / "b" / "0.png")
    assert tmp_path.stat().st_mtime_ns == top_mtime
    assert dataset_spec.source_signature(str(tmp_path)) != before
    again = load_colour(tmp_path)
    assert again.identity != first.identity
    assert np.allclose(again.x[1][2], 1) and np.allclose(again.x[1][0], 0)
    # an added file in a subfolder is noticed too
    solid("RGB", (10, 10), (0, 255, 0)).save(tmp_path / "a" / "1.png")
    assert len(load_colour(tmp_path).x) == 3


def test_source_signature_of_names_and_files(tmp_path):
    assert dataset_spec.source_signature("mnist") == "mnist" and dataset_spec.source_signature("shapes:900") == "shapes:900"
    path = tmp_path / "set.npz"
    np.savez(path, x=np.zeros((2, 3, 3)))
    before = dataset_spec.source_signature(str(path))
    np.savez(path, x=np.ones((2, 3, 3)))
    touch_later(path)
    assert dataset_spec.source_signature(str(path)) != before


def test_loose_images_beside_class_subfolders_get_a_visible_class(tmp_path):
    """Issue 9 defect 6: loose images had the class name ''."""
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        solid("RGB", (6, 6), (255, 0, 0)).save(tmp_path / name / "0.png")
    solid("RGB", (6, 6), (0, 255, 0)).save(tmp_path / "loose.png")
    ds = load_colour(tmp_path)
    assert "" not in ds.classes
    assert ds.classes == ["(top folder)", "cat", "dog"]
    assert ds.classes[ds.y[2]] == "(top folder)"  # sorted names: cat/0, dog/0, loose.png
    # a folder of loose images only is unlabelled, as before
    only = tmp_path / "cat"
    assert load_colour(only).y is None


def test_nested_subfolders_take_the_first_level_as_class(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    solid("RGB", (6, 6), 0).save(tmp_path / "a" / "deep" / "0.png")
    solid("RGB", (6, 6), 0).save(tmp_path / "b" / "0.png")
    solid("RGB", (6, 6), 0).save(tmp_path / ".hidden" / "0.png")  # a tool's copy: left out
    ds = load_colour(tmp_path)
    assert ds.classes == ["a", "b"] and ds.y.tolist() == [0, 1]


def test_unreadable_files_are_listed_not_fatal(tmp_path):
    (tmp_path / "ok").mkdir()
    solid("RGB", (6, 6), (255, 0, 0)).save(tmp_path / "ok" / "1.png")
    solid("RGB", (6, 6), (0, 0, 255)).save(tmp_path / "ok" / "3.png")
    (tmp_path / "ok" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "ok" / "2.jpg").write_bytes(b"")
    good = tmp_path / "ok" / "4.png"
    solid("RGB", (64, 64), (0, 255, 0)).save(good)
    good.write_bytes(good.read_bytes()[:60])  # truncated
    ds = load_colour(tmp_path)
    assert len(ds.x) == 2
    assert np.allclose(ds.x[0][0], 1) and np.allclose(ds.x[1][2], 1)  # 1.png then 3.png, in order
    assert [s.split(":")[0] for s in ds.skipped] == ["ok/0.png", "ok/2.jpg", "ok/4.png"]
    assert "empty" in ds.skipped[1]
    # listed again from the cache
    assert load_colour(tmp_path).skipped == ds.skipped
    for f in (tmp_path / "ok").glob("[13].png"):
        f.unlink()
    with pytest.raises(DatasetError, match="none of the 3 images could be read"):
        load_colour(tmp_path)


def test_parallel_decoding_matches_in_process(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(folders.IN_PROCESS_BELOW + 20):
        Image.fromarray(rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)).save(tmp_path / f"{i:04d}.png")
    (tmp_path / "0005.png").write_bytes(b"junk")
    progress = []
    parallel = folders.read_folder(tmp_path, 8, 3, "plain", progress=progress.append, workers=2)
    serial = [folders.decode_file(tmp_path / name, 8, 3, "plain") for name in parallel.names]
    assert len(parallel.pixels) == folders.IN_PROCESS_BELOW + 19
    assert np.array_equal(np.asarray(parallel.pixels), np.stack(serial))
    assert parallel.skipped[0].startswith("0005.png: ")
    assert progress[-1] == 1 and progress == sorted(progress)


def test_a_worker_that_dies_is_reported_not_hung(tmp_path, monkeypatch):
    for i in range(folders.IN_PROCESS_BELOW + 1):
        solid("L", (4, 4), i % 256).save(tmp_path / f"{i:04d}.png")
    monkeypatch.setattr(folders.sys, "executable", "/bin/false")  # every worker exits at once
    with pytest.raises(DatasetError, match="none of the 201 images could be read .*a decoding process stopped "
                                           r"\(exit codes \[1(, 1)*\]\)"):
        data.load_folder(tmp_path, size=4, channels=1, preprocessing="plain")


def test_too_many_images_is_refused(tmp_path):
    for i in range(3):
        solid("L", (4, 4), 0).save(tmp_path / f"{i}.png")
    with pytest.raises(DatasetError, match="3 images, more than the 2 this app reads"):
        data.load_folder(tmp_path, max_images=2)


# --- .npz ---------------------------------------------------------------------------------
def test_npz_colour(tmp_path, monkeypatch):
    x = np.zeros((10, 20, 30, 3), np.uint8)
    x[..., 0] = 255  # red
    x[:, :, :5] = (0, 0, 255)  # a blue strip on the left, cropped away by the centre square
    path = tmp_path / "rgb.npz"
    np.savez(path, x=x, y=np.arange(10) % 2)
    as_stored = data.load_dataset(str(path))
    assert as_stored.x.shape == (10, 3, 20, 30) and as_stored.x.dtype == np.float32
    assert np.array_equal(as_stored.x[:, :, 0, 0], np.tile([0, 0, 1], (10, 1)))
    fitted = data.load_dataset(str(path), size=8, channels=3)
    assert fitted.x.shape == (10, 3, 8, 8)
    assert np.allclose(fitted.x, np.array([1, 0, 0])[:, None, None], atol=0.02)
    gray = data.load_dataset(str(path), size=8, channels=1)
    assert gray.x.shape == (10, 1, 8, 8) and np.allclose(gray.x, 0.299, atol=0.01)
    # a grayscale .npz for a colour model
    np.savez(path, x=np.full((4, 6, 6), 0.5))
    assert np.allclose(data.load_dataset(str(path), size=6, channels=3).x, 128 / 255)
    # a large one stays uint8 and is identified without a float copy of it
    np.savez(path, x=x)
    monkeypatch.setattr(data, "EAGER_FLOAT_BYTES", 0)
    lazy = data.load_dataset(str(path))
    assert isinstance(lazy.x, data.UnitImages) and np.array_equal(lazy.x[:], as_stored.x)
    monkeypatch.setattr(data.UnitImages, "__array__", lambda *a, **k: pytest.fail("converted whole"))
    assert lazy.identity.startswith("rgb.npz-")


def test_cli_trains_and_evaluates_on_a_colour_folder(tmp_path, capsys):
    from explorer.__main__ import main as cli

    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for name in ("warm", "cold"):
        (folder / name).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(rng.integers(0, 256, (20, 30 + i, 3), dtype=np.uint8)).save(folder / name / f"{i}.png")
    out = tmp_path / "model"
    assert cli(["train", "--model", "ae", "--dataset", str(folder), "--image-size", "12", "--image-channels", "3",
                "--epochs", "1", "--latent-dim", "2", "--out", str(out)]) == 0
    config = __import__("json").loads((out / "config.json").read_text())
    assert config["input_shape"] == [3, 12, 12] and config["dataset"]["preprocessing"] == "plain"
    capsys.readouterr()
    assert cli(["evaluate", str(out)]) == 0  # reads the folder again at 3x12x12, plainly
    assert "test MSE" in capsys.readouterr().out


# --- a folder typed in the browser: one walk, every link checked, sizes before reading -----------
class FakeEntry:
    """A directory entry of an empty image file, as os.scandir yields it."""

    def __init__(self, folder: str, name: str):
        self.name, self.path = name, os.path.join(folder, name)

    def is_symlink(self) -> bool:
        return False

    def is_dir(self, follow_symlinks: bool = True) -> bool:
        return False

    def is_file(self) -> bool:
        return True

    def stat(self):
        return os.stat_result((0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0))


def test_the_link_check_covers_every_entry_of_a_200000_image_folder(roots, monkeypatch):
    """The separate link check stopped after 100,000 entries, though a folder may hold 200,000
    images: a link to the outside placed after them was never seen. The listing's own walk now
    asks about every link (200,000 entries are given by a stand-in os.scandir: creating them on
    disk would take a CI machine 15 s)."""
    allowed, outside = roots
    folder = allowed / "big"
    folder.mkdir()
    (outside / "secret.png").write_bytes(b"not yours")
    (folder / "zz-last.png").symlink_to(outside / "secret.png")
    real_scandir = os.scandir

    class Listing:
        def __init__(self, path):
            self.real = real_scandir(path)
            fakes = [FakeEntry(str(path), f"{i:06d}.png") for i in range(folders.MAX_IMAGES)] if path == folder else []
            self.entries = iter([*fakes, *self.real])

        def __enter__(self):
            return self.entries

        def __exit__(self, *exc):
            self.real.close()

    monkeypatch.setattr(folders.os, "scandir", Listing)
    with pytest.raises(DatasetError, match="big: zz-last.png is a link to a place outside the folders this app may read"):
        dataset_for(str(folder), colour_model(8), "plain")
    (folder / "zz-last.png").unlink()
    (folder / "zz-last.png").symlink_to(allowed / "missing.png")
    with pytest.raises(DatasetError, match="zz-last.png is a link that leads nowhere"):
        dataset_for(str(folder), colour_model(8), "plain")


def test_a_typed_folder_is_walked_once_per_rerun(roots, monkeypatch):
    """The link check and the listing were two walks of the folder on every rerun; one now."""
    allowed, _ = roots
    (allowed / "set" / "a").mkdir(parents=True)
    for i in range(3):
        solid("RGB", (6, 6), (255, 0, 0)).save(allowed / "set" / "a" / f"{i}.png")
    scanned, walked = [], []
    real_scandir, real_walk = os.scandir, os.walk
    monkeypatch.setattr(folders.os, "scandir", lambda path: scanned.append(str(path)) or real_scandir(path))
    monkeypatch.setattr(os, "walk", lambda *a, **k: walked.append(a) or real_walk(*a, **k))
    first = dataset_for(str(allowed / "set"), colour_model(8), "plain")  # decoded into the cache
    assert scanned == [str(allowed / "set"), str(allowed / "set" / "a")] and walked == []
    scanned.clear()
    again = dataset_for(str(allowed / "set"), colour_model(8), "plain")  # a rerun: from Streamlit's cache
    assert again is first and scanned == [str(allowed / "set"), str(allowed / "set" / "a")] and walked == []


def test_a_refusal_names_the_folder_as_typed_never_the_servers_path(roots):
    allowed, _ = roots
    (allowed / "empty").mkdir()
    alias = allowed.parent / "alias"  # the path typed leads to the folder through a link
    alias.symlink_to(allowed)
    with pytest.raises(DatasetError) as info:
        dataset_for(str(alias / "empty"), colour_model(8), "plain")
    assert str(info.value).startswith(f"{alias / 'empty'}: no images found") and str(allowed) not in str(info.value)


def test_a_large_file_in_a_folder_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """Every file was read whole before its size was checked (a 256 MB .tif: 256 MB in memory)."""
    solid("RGB", (6, 6), (255, 0, 0)).save(tmp_path / "a.png")
    big = tmp_path / "b.tif"
    with big.open("wb") as f:
        f.truncate(preprocess.MAX_UPLOAD_BYTES + 1)  # sparse: no disk used
    reads = []
    real_read_bytes = type(big).read_bytes
    monkeypatch.setattr(type(big), "read_bytes", lambda self: reads.append(self) or real_read_bytes(self))
    ds = load_colour(tmp_path)
    assert len(ds.x) == 1 and big not in reads
    assert ds.skipped == [f"b.tif: the file is {preprocess.MAX_UPLOAD_BYTES + 1:,} bytes, over the 10 MB upload limit"]
