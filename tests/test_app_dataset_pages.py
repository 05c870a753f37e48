"""The Map, Upload, Anomaly and Compare pages, driven through the whole app with AppTest on
the shipped checkpoints: each renders without an exception, and its main control changes
what it shows."""
from __future__ import annotations

import base64
import io
import json
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest


TIMEOUT = 240  # seconds per script run: encoding 5,000 images on two busy cores takes a while


@pytest.fixture
def app(open_app):
    """``app(page, ckpt=None, **query_params)``: the app on ``page`` after a first run on the Map,
    with the checkpoints ``ckpt`` (default mnist-ae) picked.
    These check the Plotly map (the fallback); tests/test_map_webgl.py the WebGL one."""
    return lambda page, ckpt=None, **params: open_app(page, TIMEOUT, ckpt=ckpt or ["mnist-ae"], map_drawer="plotly", **params)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def map_figure(at: AppTest) -> dict:
    return next(f for f in charts(at) if "codes" in f["layout"].get("title", {}).get("text", ""))


def values(data) -> np.ndarray:
    """A figure's array: Plotly sends large numeric arrays base64-encoded with their dtype."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data)


def texts(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("markdown", "caption", "error", "warning", "info") for e in at.get(kind))


def digit_png() -> bytes:
    """A dark 7 drawn on white, as someone would photograph or paint one."""
    picture = Image.new("RGB", (120, 150), "white")
    ImageDraw.Draw(picture).line([(30, 25), (90, 25), (55, 125)], fill="black", width=12)
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return buf.getvalue()


# --- Map ----------------------------------------------------------------------------------------
def test_map_colour_and_method_change_the_chart(app):
    at = app("map")
    by_label = map_figure(at)
    assert [t["name"] for t in by_label["data"]] == [str(d) for d in range(10)]
    assert "PCA" in by_label["layout"]["title"]["text"]
    assert any(c.startswith("Decoded grid over the PCA map") for image in at.get("image") for c in image.captions)

    colour = next(r for r in at.radio if r.label == "Colour by")
    colour.set_value("error").run()
    assert not at.exception
    by_error = map_figure(at)
    assert len(by_error["data"]) == 1 and len(values(by_error["data"][0]["marker"]["color"])) == 5000

    # t-SNE runs in the background: PCA stays up meanwhile, then the t-SNE map replaces it.
    next(r for r in at.radio if r.label == "Projection").set_value("tsne")
    at.number_input(key="tsne_n_iter").set_value(60)
    next(b for b in at.button if b.label == "Compute map").click().run()
    assert not at.exception
    deadline = time.monotonic() + 180
    while "t-SNE" not in map_figure(at)["layout"]["title"]["text"]:
        assert time.monotonic() < deadline, "the t-SNE map never replaced PCA"
        assert "PCA" in map_figure(at)["layout"]["title"]["text"]
        time.sleep(2)
        at.run()
        assert not at.exception
    tsne = values(map_figure(at)["data"][0]["x"])
    assert len(tsne) == 5000 and not np.allclose(tsne, values(by_error["data"][0]["x"]))

    # The link names this map: opened in a new session, it shows at once (computed once per server).
    shared = app("map", map_method="t-SNE", tsne_n_iter="60", map_colour="reconstruction error")
    assert "t-SNE" in map_figure(shared)["layout"]["title"]["text"]
    np.testing.assert_array_equal(values(map_figure(shared)["data"][0]["x"]), tsne)


def test_map_reports_a_failed_projection_once_and_keeps_pca(app, monkeypatch):
    from explorer import projection

    real, calls = projection.project, []

    def failing(codes, method, *args, **kwargs):
        if method == "pca":
            return real(codes, method, *args, **kwargs)
        calls.append(method)
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(projection, "project", failing)
    at = app("map", map_method="UMAP", umap_n_neighbors="17")
    for _ in range(3):  # the page polls while the job runs, then shows why it failed
        time.sleep(1)
        at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["The UMAP map could not be made: simulated failure. Showing PCA instead."]
    assert "PCA" in map_figure(at)["layout"]["title"]["text"]
    assert calls == ["umap"]  # not started again on every rerun


def test_map_shows_the_selection_that_other_pages_share(app):
    at = app("map")
    assert "Nothing selected yet" in texts(at)
    at.session_state["selection"] = list(range(70))
    at.run()
    assert not at.exception
    assert "**70 images selected**; 64 of them, evenly spaced, are shown" in texts(at)
    shown = next(image.captions for image in at.get("image") if len(image.captions) > 1)
    assert len(shown) == 64 and shown[0].startswith("#0 · ") and shown[-1].startswith("#69 · ")  # first and last of the selection


def test_map_of_a_2d_model_is_its_latent_space(app):
    at = app("map", ["mnist-vae-2d"])
    assert "the map is the latent space itself" in texts(at)
    assert not any(r.label == "Projection" for r in at.radio)
    assert map_figure(at)["layout"]["xaxis"]["title"]["text"] == "z 0"


# --- Upload -------------------------------------------------------------------------------------
def test_upload_shows_reconstruction_and_place_on_the_map(app):
    at = app("upload")
    assert "Upload an image to start" in texts(at)
    at.file_uploader(key="image_upload").set_value(("seven.png", digit_png(), "image/png")).run()
    assert not at.exception, at.exception
    assert not at.error
    assert [m.label for m in at.metric] == ["Reconstruction error (MSE)", "Mean distance to its 10 nearest training codes"]
    assert "of the dataset's 1,000 test images" in texts(at)
    assert at.session_state["upload_code"].shape == (16,)
    assert at.session_state["upload_image"].shape == (1, 28, 28)
    placed = [t for t in map_figure(at)["data"] if t.get("name") == "seven.png"]
    assert len(placed) == 1 and np.isfinite(values(placed[0]["x"])).all()
    neighbours = next(image.captions for image in at.get("image") if any("d = " in c for c in image.captions))
    assert len(neighbours) == 8

    # The Map page draws the same upload.
    at.switch_page("explorer/ui/pages/map.py").run()
    assert not at.exception
    assert any(t.get("name") == "seven.png" for t in map_figure(at)["data"])


@pytest.mark.parametrize("name", ["notes.txt", "notes.png"])  # a text file, and one renamed to look like a PNG
def test_upload_rejects_a_file_that_is_not_an_image(app, name):
    at = app("upload")
    at.file_uploader(key="image_upload").set_value((name, b"shopping list: milk, eggs\n" * 20, "text/plain")).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        f"Cannot use {name}: not an image this app can read (accepted: PNG, JPEG, GIF, BMP, TIFF, WebP)."]
    assert "upload_code" not in at.session_state


# --- Anomaly ------------------------------------------------------------------------------------
def count_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "above the threshold" in m.value)


def test_anomaly_threshold_changes_the_count(app):
    at = app("anomaly")
    assert count_line(at).startswith("**50 of 1,000 images (5.0%)")
    threshold = at.slider[0]
    threshold.set_value(float(threshold.min)).run()
    assert not at.exception
    assert count_line(at).startswith("**999 of 1,000 images")
    assert any("worst first" in c.value for c in at.caption)
    next(r for r in at.radio if r.label == "Images").set_value("whole dataset").run()
    assert not at.exception
    assert "of 5,000 images" in count_line(at)


def test_anomaly_roc_for_the_held_out_class(app):
    at = app("anomaly", ["mnist-anomaly-ae"])
    training = at.session_state["context"].engine.source.training.raw
    assert [s.value for s in at.subheader if s.value.startswith("Finding")] == [
        f"Finding the held-out class {training['anomaly_class']}"]
    assert not at.error
    aucs = {m.label: float(m.value) for m in at.metric}
    # the page agrees with the evaluation recorded at training
    assert aucs == {"Model ROC AUC": pytest.approx(training["anomaly_auc"], abs=1e-3),
                    "PCA ROC AUC": pytest.approx(training["pca_anomaly_auc"], abs=1e-3)}
    roc = next(f for f in charts(at) if f["layout"]["xaxis"]["title"]["text"].startswith("false positive"))
    assert [t["name"].split(" (")[0] for t in roc["data"]][1:] == ["PCA k=16", "chance"]


# --- Compare ------------------------------------------------------------------------------------
def model_rows(at: AppTest) -> dict[str, str]:
    return {m.value.split("**")[1]: m.value for m in at.markdown if "mean MSE" in m.value}


def test_compare_noise_changes_the_scores(app):
    at = app("compare", ["mnist-ae", "mnist-conv-ae"])
    clean = model_rows(at)
    assert list(clean) == ["mnist-ae", "mnist-conv-ae", "PCA (k=16)"]
    assert not any("noise" in m.value for m in at.markdown)
    next(s for s in at.slider if s.label.startswith("Noise level")).set_value(0.5).run()
    assert not at.exception
    noisy = model_rows(at)
    assert list(noisy) == list(clean) and all(noisy[k] != clean[k] for k in clean)
    assert any("Inputs with noise σ = 0.50" in m.value for m in at.markdown)
    assert len(at.dataframe) == 2


def test_compare_skips_checkpoints_that_do_not_fit_the_dataset(app):
    at = app("compare", ["mnist-ae"], data="digits")
    assert not at.exception
    assert any("expects images of shape [1, 28, 28], but these are [1, 8, 8]: skipped" in w.value for w in at.warning)
    assert [e.value for e in at.error] == ["None of the picked checkpoints fits these images."]


def test_compare_uses_the_map_selection(app):
    at = app("compare", ["mnist-ae"])
    next(r for r in at.radio if r.label == "Inputs").set_value("selection").run()
    assert "Nothing is selected" in texts(at)
    at.session_state["selection"] = [3, 1, 4]
    at.run()
    assert not at.exception
    assert list(model_rows(at)) == ["mnist-ae", "PCA (k=16)"]


def test_the_map_says_where_its_job_stands_queued_or_refused(app, monkeypatch):
    """The one worker was busy with another map: the page said "Computing … (0%)" for as long as
    its map waited, and a full queue was never reported."""
    import threading

    from explorer.ui import jobs, map_jobs

    gate = threading.Event()
    jobs.submit("someone else's map", lambda progress: gate.wait(120))  # holds the worker
    monkeypatch.setattr(jobs.STORE, "max_queued", lambda: 1)
    try:
        at = app("map", map_method="t-SNE", tsne_n_iter="60")
        assert [p.proto.text for p in at.get("progress")] == [
            "The t-SNE map is queued: 1 map is ahead of it. PCA is shown meanwhile; the t-SNE map replaces it when "
            "ready."]
        # another session (every AppTest has the same session id): the queue, of one, is full
        monkeypatch.setattr(map_jobs, "session_id", lambda: "another session")
        other = app("map", map_method="UMAP")
        assert [w.value for w in other.warning] == [
            "The UMAP map was not queued: the server is busy: 1 map is already waiting to be computed. Try again in a "
            "minute. PCA is shown meanwhile."]
        assert "PCA" in map_figure(other)["layout"]["title"]["text"]
    finally:
        gate.set()
