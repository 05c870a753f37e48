"""Compare: every checkpoint picked in the sidebar, and PCA at their latent sizes, on the same images."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import comparison, formatting, store_dataset
from explorer.disentangle import METRICS, MIG_TARGET_VS_PCA, MIG_TARGET_VS_VAE
from explorer.indices import index_caption
from explorer.ui import baselines, display, handoffs, latent_size, representation, session

MAX_INPUTS = 16
SOURCES = {"random": "random test images", "selection": "the Map's selection", "upload": "the uploaded image"}
VIEWS = {"reconstructions": "Reconstructions", "representation": "Representation quality", "size": "Latent size"}


def pca_caption(baseline: comparison.PCADisentanglement) -> str:
    """What PCA's row is, how far its fits spread, and what a disentangling model is held to."""
    target = (f"A model trained to disentangle is held to a MIG of at least {MIG_TARGET_VS_PCA:g}× PCA's median "
              f"({formatting.fixed(MIG_TARGET_VS_PCA * (baseline.median['mig'] or 0))} here) and {MIG_TARGET_VS_VAE:g}× "
              "the plain VAE's.")
    if not baseline.ranges:
        return f"{baseline.label}: one fit was recorded, and one fit is one draw of PCA's components. {target}"
    labels = {m.key: m.label for m in METRICS}
    spread = ", ".join(f"{labels[k]} {formatting.fixed(lo)}–{formatting.fixed(hi)}" for k, (lo, hi) in baseline.ranges.items())
    return (f"{baseline.label}, each on another sample of the training images: near-equal eigenvalues leave the "
            f"rotation of PCA's components within their subspace to chance, so one fit is one draw. Over the "
            f"{baseline.fits} fits: {spread}. {target}")


st.title("Compare")
st.caption("The checkpoints picked in the sidebar, and PCA with as many components as each one's latent size, "
           "reconstruct the same images. Scores are always against the clean originals.")
ctx = session.context()
if not ctx.engines:
    st.info("Pick one or more checkpoints in the sidebar to compare them.")
    st.stop()
if ctx.dataset is None:
    st.info(f"{session.dataset_missing(ctx)} The inputs and the PCA baselines come from it.")
    st.stop()
dataset = ctx.dataset
session.stop_on_store(dataset, f"Compare fits PCA baselines on thousands of the dataset's images and encodes them with "
                               f"every picked model. {store_dataset.NEEDS_ALL_IMAGES}")

view = st.radio("View", list(VIEWS), format_func=VIEWS.get, horizontal=True, key="compare_view", bind="query-params")
if view == "representation":
    representation.show(ctx.engines, dataset)
    st.stop()
if view == "size":
    latent_size.show(ctx.engines, dataset)
    st.stop()

controls = st.columns([2, 1, 1, 2])
source = controls[0].radio("Inputs", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="compare_inputs",
                           bind="query-params")
count = controls[1].number_input("How many", 1, MAX_INPUTS, 8, disabled=source != "random", key="compare_n",
                                 bind="query-params")
seed = controls[2].number_input("Seed", 0, 2**31 - 1, 0, help="The same seed picks the same images and the same noise.",
                                key="compare_seed", bind="query-params")
noise = controls[3].slider("Noise level (Gaussian σ)", 0.0, 1.0, 0.0, 0.05, key="compare_noise", bind="query-params",
                           help="Corrupts the inputs (clipped to [0, 1]) to compare how well models denoise.")

captions: list[str]
if source == "random":
    indices = comparison.random_indices(dataset.test_idx, int(count), int(seed))
    originals = dataset.x[indices]
    captions = [index_caption(dataset, i) for i in indices]
elif source == "selection":
    selection = handoffs.get_selection(dataset)
    if not selection:
        st.info("Nothing is selected: select points on the Map (box, lasso or click) and come back.")
        st.stop()
    if len(selection) > MAX_INPUTS:
        st.caption(f"{len(selection):,} images are selected; the first {MAX_INPUTS} are compared.")
    indices = np.array(selection[:MAX_INPUTS])
    originals = dataset.x[indices]
    captions = [index_caption(dataset, i) for i in indices]
else:
    upload = handoffs.uploaded_image()
    if upload is None:
        st.info("No image uploaded yet: add one on the Upload page and come back.")
        st.stop()
    originals, captions = upload[0][None], [upload[1]]

if list(originals.shape[1:]) != dataset.input_shape:
    st.error(f"The inputs have shape {list(originals.shape[1:])} but the dataset's images are {dataset.input_shape}: "
             "the PCA baselines cannot be fitted for them. Upload again with a checkpoint that fits this dataset.")
    st.stop()

result = comparison.compare(originals, ctx.engines, lambda k: baselines.pca_baseline(dataset, k), noise, int(seed))
for message in result.skipped:
    st.warning(message)
if not result.rows:
    st.error("None of the picked checkpoints fits these images.")
    st.stop()

st.markdown("**Originals**")
display.show_gallery(result.originals, captions)
if noise > 0:
    st.markdown(f"**Inputs with noise σ = {noise:.2f}** (what every model is fed)")
    display.show_gallery(result.inputs, captions)
for row in result.rows:
    st.markdown(f"**{row.name}** · latent {row.latent_dim} · mean MSE {row.mse.mean():.4f} · "
                f"mean SSIM {formatting.fixed(row.ssim.mean())}")
    display.show_gallery(row.reconstructions, [f"MSE {m:.4f} · SSIM {formatting.fixed(s)}"
                                               for m, s in zip(row.mse, row.ssim)])

stacked = np.concatenate([result.originals, *([result.inputs] if noise > 0 else []),
                          *[row.reconstructions for row in result.rows]])
display.png_download(stacked, len(originals), "comparison.png", key="comparison",
                    label="Download the rows above as PNG")

st.subheader("On these inputs")
scores = pd.DataFrame([{"model": row.name, "latent": row.latent_dim, "mean MSE": row.mse.mean(),
                        "mean SSIM": row.ssim.mean()} for row in result.rows])
st.dataframe(formatting.tidy(scores, {"mean MSE": 4, "mean SSIM": 3}), hide_index=True, column_config={
    "mean MSE": st.column_config.NumberColumn(format="%.4f"), "mean SSIM": st.column_config.NumberColumn(format="%.3f")})

st.subheader("Recorded at training (test split)")
recorded = formatting.tidy(pd.DataFrame(comparison.recorded_metrics(ctx.engines)),
                           {"test_mse": 4, "test_psnr": 2, "test_ssim": 3, "pca_mse": 4, "mse_vs_pca": 3})
st.dataframe(recorded, hide_index=True, column_config={
    "test_mse": st.column_config.NumberColumn("test MSE", format="%.4f"),
    "test_psnr": st.column_config.NumberColumn("test PSNR (dB)", format="%.2f"),
    "test_ssim": st.column_config.NumberColumn("test SSIM", format="%.3f"),
    "pca_mse": st.column_config.NumberColumn("PCA MSE", format="%.4f"),
    "mse_vs_pca": st.column_config.NumberColumn("MSE ÷ PCA's", format="%.3f",
                                                help="Below 1: the model beats PCA at the same latent size."),
})
disentanglement, pca_baselines = comparison.recorded_disentanglement(ctx.engines)
if disentanglement:
    st.subheader("Disentanglement (recorded at training, held-out test images)")
    shown = formatting.tidy(pd.DataFrame(disentanglement), {**{m.key: int(m.format[1:-1]) for m in METRICS},
                                                            "mig_vs_pca": 2})
    columns = {m.key: st.column_config.NumberColumn(m.label, format=f"%{m.format}", help=m.help) for m in METRICS}
    columns["mig_vs_pca"] = st.column_config.NumberColumn("MIG ÷ PCA's median", format="%.2f",
                                                          help="The model's MIG over the median MIG of PCA's fits "
                                                               "at the same latent size.")
    st.dataframe(shown, hide_index=True, column_config=columns)
    for baseline in pca_baselines:
        st.caption(pca_caption(baseline))
display.csv_download(pd.DataFrame(comparison.per_image_scores(result, captions)), "Download per-image scores as CSV",
                    "comparison.csv", key="comparison-csv")
