"""Upload: your own image through the model: preprocessing, reconstruction, how typical it is
(its code among the training codes, its reconstruction error among the test images'), place on
the map, and nearest neighbours."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from explorer import latent, metrics, novelty, preprocess, render
from explorer.dataset_spec import preprocessing_for
from explorer.indices import index_caption
from explorer.ui import dataset_cache, display, handoffs, map_jobs, map_plotly, map_webgl, session

# MIME types, not extensions: the browser's picker filters by them, and Streamlit then leaves the
# check to us instead of raising on a mismatched name. Every upload is decoded by
# preprocess.preprocess_bytes, which accepts only real images of these formats.
ACCEPTED = ["image/png", "image/jpeg", "image/gif", "image/bmp", "image/tiff", "image/webp"]
NEIGHBOURS = 8
SOURCE_KEY = "upload_bytes"  # (file name, bytes): the upload survives a visit to another page
VERDICT_BOX = {"typical": st.success, "unusual": st.warning, "unlike the training data": st.error}


@st.cache_data(show_spinner="Measuring how far apart the training codes lie (once per model and dataset)…",
               max_entries=16)
def typicality_reference(content_hash: str, dataset_identity: str, _codes, _dataset) -> novelty.Reference:
    return novelty.reference_from(_codes.codes, _codes.errors, _dataset.train_idx, _dataset.test_idx)


def code_witness(data: bytes, engine, dataset) -> str | None:
    """A second measure for a picture digit preprocessing refused: read as it is (gray and
    resized, no digit steps), how far its code lies from the training digits' codes, as a
    percentile of the test digits' distances; None when it cannot be read that way either."""
    channels, size, _ = engine.input_shape
    try:
        plain = preprocess.preprocess_bytes(data, size=size, channels=channels, mnist_style=False).image
    except preprocess.ImageError:
        return None
    codes = dataset_cache.dataset_codes(engine, dataset)
    reference = typicality_reference(engine.source.content_hash, dataset.identity, codes, dataset)
    image = plain[None] if plain.ndim == 2 else plain
    error = float(metrics.per_sample_mse(image[None], engine.reconstruct(image[None]))[0])
    verdict = novelty.judge(reference, engine.encode(image[None])[0], error)
    return (f"Read as it is (only turned gray and resized, without the digit steps), its code lies farther from "
            f"its nearest training codes than {verdict.distance_percentile:.1f}% of the test images' codes do.")


def forget_upload() -> None:
    st.session_state.pop(SOURCE_KEY, None)
    handoffs.clear_upload()


def forget_removed_upload() -> None:
    if st.session_state.get("image_upload") is None:
        forget_upload()


engine, dataset = session.page_start(
    "Upload",
    "Drop a picture of a digit: it is preprocessed like the training data, encoded, reconstructed and "
    "placed among the dataset's images.",
)

file = st.file_uploader("An image of a digit", type=ACCEPTED, key="image_upload", on_change=forget_removed_upload,
                        max_upload_size=preprocess.MAX_UPLOAD_BYTES // 2**20)
if file is not None:
    st.session_state[SOURCE_KEY] = (file.name, file.getvalue())
source = st.session_state.get(SOURCE_KEY)
if source is None:
    st.info("Upload an image to start. A dark digit on a light background works; so does a photo of one.")
    st.stop()
name, data = source
if file is None:  # back from another page: the uploader starts empty, the upload is still here
    left, right = st.columns([4, 1])
    left.caption(f"Showing your last upload, {name}. Upload another image to replace it.")
    right.button("Forget it", on_click=forget_upload)

channels, height, width = engine.input_shape
if height != width:
    st.error(f"{engine.source.name} takes {height}×{width} images; uploads can only be fitted to square inputs.")
    st.stop()
if channels == 1:
    mnist_style = st.toggle("MNIST-style preprocessing", key="upload_mnist_style", persist_state="session",
                            value=preprocessing_for(engine.source) == "digit",
                            help="Invert to light ink on dark, crop, fit into a 20/28 box and centre by mass, as "
                                 "the MNIST digits were made. Off: just grayscale and resize.")
try:
    if channels == 1:
        prepared = preprocess.preprocess_bytes(data, size=height, channels=channels, mnist_style=mnist_style)
    else:  # a colour model: the colour kept, read like a folder's images (shorter side, centre crop)
        prepared = preprocess.preprocess_plain_bytes(data, size=height, channels=channels)
except preprocess.NotADigit as e:
    handoffs.clear_upload()
    st.error(f"Cannot use {name}: this does not look like a handwritten digit. {e.reason[0].upper()}{e.reason[1:]}. "
             f"{e.advice[0].upper()}{e.advice[1:]}.")
    witness = code_witness(data, engine, dataset)
    if witness is not None:
        st.caption(witness)
    st.stop()
except preprocess.ImageError as e:
    handoffs.clear_upload()
    st.error(f"Cannot use {name}: {e}.")
    st.stop()
image = prepared.image if prepared.image.ndim == 3 else prepared.image[None]
code = handoffs.set_upload(image, name, engine)
reconstruction = engine.reconstruct(image)[0]
codes = dataset_cache.dataset_codes(engine, dataset)

st.subheader("Preprocessing")
st.image([render.upscale(render.square(picture), 150) for _, picture in prepared.steps],
         caption=[caption for caption, _ in prepared.steps], width=150)
for note in prepared.notes:
    st.caption(f"• {note}")

st.subheader("Reconstruction")
error = float(metrics.per_sample_mse(image[None], reconstruction[None])[0])
reference = typicality_reference(engine.source.content_hash, dataset.identity, codes, dataset)
verdict = novelty.judge(reference, code, error)
left, middle, right = st.columns([1, 1, 3])
with left:
    display.show_image(image, "model input", min_side=168)
with middle:
    display.show_image(reconstruction, "reconstruction", min_side=168)
with right:
    st.metric("Reconstruction error (MSE)", f"{error:.4f}")
    st.markdown(f"Higher than **{verdict.error_percentile:.1f}%** of the dataset's "
                f"{len(reference.test_errors):,} test images.")
    histogram = go.Figure(go.Histogram(x=reference.test_errors, nbinsx=60, name="test images"))
    histogram.add_vline(x=error, line_color="red", line_dash="dash", annotation_text=name,
                        annotation_position="top right")
    histogram.update_layout(xaxis_title="reconstruction error (MSE)", yaxis_title="test images", height=260,
                            showlegend=False, margin=dict(l=10, r=10, t=30, b=10))
    st.plotly_chart(histogram, key="upload-error-histogram")

st.subheader("How typical it is")
# A low reconstruction error alone proves little (a near-empty picture redraws well); where the
# code lies among the training codes is the second witness, and the worse of the two decides.
VERDICT_BOX[verdict.label](verdict.explanation())
st.metric(f"Mean distance to its {novelty.NEIGHBOURS} nearest training codes", f"{verdict.distance:.2f}",
          help="Euclidean distance in latent space; its percentile is among the test images' codes.")
st.caption(f"Unusual from the {novelty.UNUSUAL:g}th percentile of either, unlike the training data from the "
           f"{novelty.UNLIKE:g}th; percentiles are among the dataset's {len(reference.test_errors):,} test images, "
           f"which the model did not train on, measured against its {len(reference.train_codes):,} training images.")

st.subheader("On the map")
try:
    state = map_jobs.current_map(engine, dataset, codes, map_jobs.last_choice())
except ValueError as e:
    st.error(f"No map of these codes: {e}")
else:
    map_jobs.explain(state)
    try:
        position = state.projection.transform(code[None])
    except ValueError as e:
        position = None
        st.warning(f"The upload cannot be placed on this map: {e}")
    why_not_webgl = map_webgl.unavailable()
    if why_not_webgl:
        st.plotly_chart(map_plotly.scatter(state, dataset, codes, "label", upload=(position, name)), key="upload-map")
    else:
        map_webgl.draw(engine, dataset, codes, state, key="upload-map", colour="label" if dataset.y is not None else "error",
                       marks=map_webgl.Marks(upload=(name, code)), height=520)
    st.caption("The red star is the upload, placed by the map's own transform.")

st.subheader("Nearest neighbours in latent space")
indices, distances = latent.nearest_neighbours(codes.codes, code, NEIGHBOURS)
display.show_gallery(dataset.x[indices], [f"{index_caption(dataset, i)} · d = {d:.2f}"
                                         for i, d in zip(indices, distances)], side=112)
st.caption(f"Euclidean distance between codes in {engine.source.name}'s {engine.latent_dim}-d latent space.")
