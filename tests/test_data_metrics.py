"""Dataset loaders (built-in, .npz, image folder) and the reconstruction metrics."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from explorer import data, metrics
from explorer.data import DatasetError


# --- built-in datasets ----------------------------------------------------------------------
def check_split(ds: data.Dataset, n: int, n_test: int) -> None:
    train, test = ds.train_idx, ds.test_idx
    assert len(train) == n - n_test and len(test) == n_test
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.union1d(train, test), np.arange(n))
    # stratified: each class is in the test split in (almost exactly) its overall proportion
    overall, in_test = np.bincount(ds.y, minlength=10), np.bincount(ds.y[test], minlength=10)
    assert np.all(np.abs(in_test - overall * n_test / n) <= 1), (in_test, overall)
    x_test, y_test = ds.split("test")
    assert np.array_equal(x_test, ds.x[test]) and np.array_equal(y_test, ds.y[test])


def test_mnist(mnist):
    assert mnist.x.shape == (5000, 1, 28, 28) and mnist.x.dtype == np.float32
    assert mnist.x.min() == 0 and mnist.x.max() == 1
    assert mnist.y.dtype == np.int64 and set(np.unique(mnist.y)) == set(range(10))
    assert mnist.classes == [str(i) for i in range(10)] and mnist.input_shape == [1, 28, 28]
    check_split(mnist, 5000, 1000)
    assert np.bincount(mnist.y[mnist.test_idx]).tolist() == [100] * 10  # 500 of each digit
    desc = mnist.describe()
    assert desc["split_seed"] == 0 and desc["size"] == 5000 and desc["pixel_range"] == [0.0, 1.0]


def test_digits(digits):
    assert digits.x.shape == (1797, 1, 8, 8) and digits.x.dtype == np.float32
    assert digits.x.min() == 0 and digits.x.max() == 1  # 0..16 scaled by 1/16
    assert np.allclose(digits.x * 16, np.round(digits.x * 16))
    assert digits.y.dtype == np.int64 and set(np.unique(digits.y)) == set(range(10))
    check_split(digits, 1797, 360)


def test_loading_is_deterministic(digits):
    again = data.load_dataset("digits")
    assert np.array_equal(again.x, digits.x) and np.array_equal(again.y, digits.y)
    assert np.array_equal(again.train_idx, digits.train_idx) and np.array_equal(again.test_idx, digits.test_idx)
    assert again.identity == digits.identity
    shuffled = data.Dataset("digits", digits.x[::-1].copy(), digits.y[::-1].copy(), digits.classes)
    assert shuffled.identity != digits.identity


def test_builtin_arrays_come_from_the_disk_cache(monkeypatch, digits):
    first = data.load_dataset("digits")
    monkeypatch.setattr(data, "load_digits", lambda: pytest.fail("parsed again"))
    again = data.load_dataset("digits")
    assert again.identity == first.identity == digits.identity
    assert np.array_equal(again.x, digits.x) and again.classes == digits.classes


def test_tiny_and_unlabelled_splits():
    x = np.zeros((3, 1, 4, 4), np.float32)
    tiny = data.Dataset("t", x, None, [])
    assert np.array_equal(tiny.train_idx, [0, 1, 2]) and np.array_equal(tiny.test_idx, [0, 1, 2])
    x = np.zeros((50, 1, 4, 4), np.float32)
    lonely = np.array([0] * 49 + [1])  # a class of one cannot be stratified: still splits
    ds = data.Dataset("u", x, lonely, ["a", "b"])
    assert len(ds.train_idx) == 40 and len(ds.test_idx) == 10


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'"):
        data.load_dataset("cifar")


# --- .npz -----------------------------------------------------------------------------------
def test_npz_uint8_grayscale_with_labels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 6, 5), dtype=np.uint8)
    x[0, 0, 0], x[0, 0, 1] = 0, 255
    y = np.array(["cat", "dog", "eel"] * 10)
    path = tmp_path / "set.npz"
    np.savez(path, x=x, y=y)
    ds = data.load_dataset(str(path))
    assert ds.x.shape == (30, 1, 6, 5) and ds.x.dtype == np.float32
    assert np.allclose(ds.x[:, 0], x / 255.0)
    assert ds.classes == ["cat", "dog", "eel"]
    assert ds.y.tolist() == [0, 1, 2] * 10
    assert len(ds.test_idx) == 6


def test_npz_float_channels_last_without_labels(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((12, 7, 9, 3)).astype(np.float64)
    path = tmp_path / "rgb.npz"
    np.savez(path, x=x)
    ds = data.load_npz(path)
    assert ds.x.shape == (12, 3, 7, 9)
    assert np.allclose(ds.x, np.moveaxis(x, -1, 1))
    assert ds.y is None and ds.classes == []
    # floats on a 0..255 scale are brought to [0, 1]
    np.savez(path, x=x * 255)
    assert np.allclose(data.load_npz(path).x, np.moveaxis(x, -1, 1), atol=1e-6)
    # (N, H, W, 1) becomes (N, 1, H, W)
    np.savez(path, x=x[..., :1])
    assert data.load_npz(path).x.shape == (12, 1, 7, 9)


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((4, 5, 5))}, "needs an array named 'x' (found: images)"),
    ({"x": np.array([[[0.5, np.nan]]])}, "NaN or infinite"),
    ({"x": np.array([[[0.5, np.inf]]])}, "NaN or infinite"),
    ({"x": np.full((2, 3, 3), -0.5)}, "pixel values span [-0.5, -0.5]; expected [0, 1] or [0, 255]"),
    ({"x": np.full((2, 3, 3), 300.0)}, "pixel values span [300, 300]"),
    ({"x": np.zeros((2, 3))}, "'x' must be (N, H, W) or (N, H, W, C)"),
    ({"x": np.zeros((0, 3, 3))}, "'x' holds no images"),
    ({"x": np.zeros((4, 3, 3)), "y": np.zeros(3)}, "'y' must have one label per image (4)"),
    ({"x": np.array([[["a", "b"]]])}, "pixels must be numbers"),
])
def test_npz_bad_inputs(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError) as info:
        data.load_npz(path)
    assert message in str(info.value)
    assert str(info.value).startswith("bad.npz: ")


def test_npz_pickled_object_array_is_not_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([Boom(), Boom()], dtype=object))
    with pytest.raises(DatasetError, match="evil.npz: holds Python objects.*never unpickles") as caught:
        data.load_npz(path)
    assert "allow_pickle" not in str(caught.value)  # numpy's advice to load unsafely is not passed on
    assert not (tmp_path / "pwned").exists()


def test_npz_declaring_a_huge_array_is_refused_before_loading(tmp_path):
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 1000, 1000)})
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(DatasetError, match="bomb.npz: array 'x' declares more than 2 GB; refused before loading"):
        data.load_npz(path)


def test_npz_not_a_zip(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"definitely not a zip file")
    with pytest.raises(DatasetError, match="junk.npz: not a readable .npz file"):
        data.load_npz(path)


# --- image folder ---------------------------------------------------------------------------
def draw(path, kind: str, offset: int) -> None:
    """Dark strokes on a light 40x40 background, like a photographed digit."""
    im = Image.new("L", (40, 40), 230)
    d = ImageDraw.Draw(im)
    if kind == "bar":
        d.rectangle([17 + offset, 5, 22 + offset, 34], fill=20)
    else:
        d.ellipse([8 + offset, 8, 30 + offset, 30], outline=20, width=4)
    im.save(path)


def test_folder_with_class_subfolders(tmp_path):
    for kind in ("ring", "bar"):
        (tmp_path / kind).mkdir()
        for i in range(3):
            draw(tmp_path / kind / f"{i}.png", kind, offset=2 * i)
    (tmp_path / "bar" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.new("L", (20, 20), 128).save(tmp_path / "ring" / "blank.png")
    (tmp_path / "notes.txt").write_text("ignored: not an image")

    ds = data.load_dataset(str(tmp_path), size=16)
    assert ds.x.shape == (6, 1, 16, 16) and ds.x.dtype == np.float32
    assert ds.x.min() >= 0 and ds.x.max() <= 1
    assert ds.classes == ["bar", "ring"]
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1]  # sorted paths: bar/0..2 then ring/0..2
    assert sorted(s.split(":")[0] for s in ds.skipped) == ["bar/broken.png", "ring/blank.png"]
    # inverted to light-on-dark and centred: the border is dark, the centre carries ink
    border = np.concatenate([ds.x[:, 0, 0], ds.x[:, 0, -1], ds.x[:, 0, :, 0], ds.x[:, 0, :, -1]])
    assert border.mean() < 0.05
    bars, rings = ds.x[ds.y == 0], ds.x[ds.y == 1]
    assert bars[:, 0, 7:9, 7:9].mean() > 0.5  # a bar covers the centre
    assert rings[:, 0, 7:9, 7:9].mean() < 0.2  # a ring's centre is empty
    # the horizontal offset is removed by centring: the three bars look alike
    assert np.abs(bars[0] - bars[2]).max() < 0.1


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="no images found"):
        data.load_folder(tmp_path)
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="none of the 1 images could be read"):
        data.load_folder(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        data.load_folder(tmp_path / "a.png")


# --- metrics ------------------------------------------------------------------------------
def test_mse_and_psnr_known_values():
    x = np.zeros((3, 1, 4, 4), np.float32)
    recon = x.copy()
    recon[0] = 0.5  # every pixel off by 0.5
    recon[1, 0, 0, 0] = 1.0  # one pixel in 16 off by 1
    mse = metrics.per_sample_mse(x, recon)
    assert mse.tolist() == pytest.approx([0.25, 1 / 16, 0.0])
    psnr = metrics.psnr(mse)
    assert psnr[0] == pytest.approx(10 * np.log10(4))  # 6.02 dB
    assert psnr[1] == pytest.approx(10 * np.log10(16))
    assert psnr[2] == pytest.approx(120.0)  # capped by the 1e-12 floor, not infinite
    assert metrics.psnr(np.array([0.01]))[0] == pytest.approx(20.0)
    assert metrics.psnr(np.array([0.01 * 255**2]), data_range=255.0)[0] == pytest.approx(20.0)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 20, 12)])
def test_ssim_identical_is_one_and_noise_lowers_it(shape):
    rng = np.random.default_rng(0)
    x = rng.random((4, *shape)).astype(np.float32)
    assert metrics.per_sample_ssim(x, x) == pytest.approx(np.ones(4))
    slightly = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
    very = np.clip(x + 0.4 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
    s_slight, s_very = metrics.per_sample_ssim(x, slightly), metrics.per_sample_ssim(x, very)
    assert s_slight.shape == (4,)
    assert np.all(s_slight < 1) and np.all(s_very < s_slight)
    summary = metrics.summary(x, very)
    assert summary["ssim"] == pytest.approx(s_very.mean())
    assert summary["mse"] == pytest.approx(metrics.per_sample_mse(x, very).mean())


def test_pca_baseline(digits):
    x_train, _ = digits.split("train")
    x_test, _ = digits.split("test")
    full = metrics.PCABaseline(64, x_train)
    recon = full.reconstruct(x_test)
    assert recon.shape == x_test.shape and recon.dtype == np.float32
    assert np.abs(recon - x_test).max() < 1e-4  # full rank: exact
    assert full.encode(x_test).shape == (len(x_test), 64)
    errors = [metrics.per_sample_mse(x_test, metrics.PCABaseline(k, x_train).reconstruct(x_test)).mean()
              for k in (2, 8, 32)]
    assert errors[0] > errors[1] > errors[2] > 1e-4
    assert metrics.PCABaseline(500, x_train[:10]).encode(x_test).shape == (len(x_test), 10)  # k capped


def test_anomaly_roc():
    errors = np.array([0.1, 0.2, 0.15, 0.9, 0.8])
    labels = np.array([0, 0, 0, 1, 1])
    roc = metrics.anomaly_roc(errors, labels)
    assert roc["auc"] == 1.0
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1
    assert metrics.anomaly_roc(-errors, labels)["auc"] == 0.0  # perfectly wrong
    mixed = metrics.anomaly_roc(np.array([0.1, 0.9, 0.5, 0.5]), np.array([0, 0, 1, 1]))
    assert mixed["auc"] == pytest.approx(0.5)


# --- anomaly metrics -------------------------------------------------------------------------
def test_error_percentile_is_share_at_or_below():
    errors = np.array([0.1, 0.2, 0.3, 0.4])
    assert metrics.error_percentile(errors, 0.25) == 50.0
    assert metrics.error_percentile(errors, 0.4) == 100.0
    assert metrics.error_percentile(errors, 0.0) == 0.0


def test_flag_above_sorts_worst_first():
    report = metrics.flag_above(np.array([0.5, 0.1, 0.9, 0.3, 0.7]), 0.4)
    assert report.flagged.tolist() == [2, 4, 0]
    assert (report.count, report.total) == (3, 5)
    assert report.share == pytest.approx(0.6)
    assert metrics.flag_above(np.array([0.1, 0.2]), 0.5).count == 0


def test_anomaly_report_beats_chance_on_an_unseen_pattern():
    rng = np.random.default_rng(0)
    basis = rng.random((2, 1, 6, 6)).astype(np.float32)

    def images(label: int, n: int) -> np.ndarray:
        if label == 0:  # normal: mixtures of the two basis images
            return (rng.random((n, 2, 1, 1, 1)) * basis).sum(1).astype(np.float32) / 2
        return rng.random((n, 1, 6, 6)).astype(np.float32)  # anomalous: noise PCA cannot express

    x_train = np.concatenate([images(0, 200), images(1, 50)])
    y_train = np.array([0] * 200 + [1] * 50)
    x_test = np.concatenate([images(0, 40), images(1, 10)])
    y_test = np.array([0] * 40 + [1] * 10)
    model_errors = np.r_[np.full(40, 0.01), np.full(10, 0.05)]
    x_normal = x_train[y_train != 1]
    report = metrics.anomaly_report(model_errors, x_test, y_test, x_normal, anomaly_class=1, latent_dim=2)
    assert report.is_anomaly.tolist() == y_test.tolist()
    assert report.model["auc"] == 1.0
    assert report.pca["auc"] > 0.9  # fitted without class 1, PCA reconstructs only the normal pattern
    with pytest.raises(ValueError, match="class 7"):
        metrics.anomaly_report(model_errors, x_test, y_test, x_normal, anomaly_class=7, latent_dim=2)


def test_the_training_split_without_a_class(digits):
    """One rule for what a model trained without class k saw: training, evaluation and the
    Anomaly page's PCA baseline all take it from Dataset.train_indices."""
    kept = digits.train_indices(exclude_class=3)
    assert set(kept) < set(digits.train_idx) and 3 not in set(digits.y[kept])
    assert len(kept) == int((digits.y[digits.train_idx] != 3).sum())
    assert digits.train_indices() is digits.train_idx
