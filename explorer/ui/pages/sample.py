"""Sample: new codes from the prior, a Gaussian fitted to the training codes, or a mixture,
decoded beside the training image whose code is nearest, to see whether the model copies."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import latent, render
from explorer.data import subsample
from explorer.indices import index_caption
from explorer.ui import dataset_cache, display, session

SAMPLERS = {"prior": "Prior N(0, I)", "gaussian": "Fitted Gaussian (full covariance)",
            "mixture": "Gaussian mixture (fitted)"}
MAX_COUNT = 64
PAIRS_PER_ROW = 4
MIXTURE_FIT_SEED = 0  # the sampling seed does not refit the mixture
TRAIN_POOL_MAX = 50_000  # training codes used, a seeded sample beyond: a store's million stay quick to search


@st.cache_resource(show_spinner="Fitting the sampler to the training codes…", max_entries=32)
def fitted_sampler(content_hash: str, dataset_identity: str, kind: str, n_components: int,
                   _train_codes: np.ndarray) -> latent.CodeSampler:
    """One fit per (checkpoint content, dataset, sampler), shared by every session."""
    return latent.CodeSampler.fit(kind, _train_codes, n_components=n_components, seed=MIXTURE_FIT_SEED)


@st.cache_data(show_spinner=False, max_entries=32)
def neighbour_spacing(content_hash: str, dataset_identity: str, _train_codes: np.ndarray) -> float:
    return latent.typical_neighbour_distance(_train_codes)


engine, dataset = session.page_start(
    "Sample",
    "Draw new latent codes and decode them. Beside each sample is the training image whose code is "
    "nearest: a sample that looks just like its neighbour at a small distance suggests copying.",
)
codes = dataset_cache.dataset_codes(engine, dataset)
pool = subsample(dataset.train_idx, TRAIN_POOL_MAX)  # the training codes samplers fit and neighbours come from
train_codes = codes.codes[pool]

kinds = (["prior"] if engine.source.is_variational else []) + ["gaussian", "mixture"]
row = st.columns([3, 2, 2, 2, 2])
kind = row[0].selectbox("Sampler", kinds, format_func=SAMPLERS.get, key="sample_sampler", bind="query-params",
                        help="The prior is only offered for VAEs: a plain autoencoder's codes follow no known "
                             "distribution, so a Gaussian or a mixture is fitted to its training codes instead.")
components = row[1].number_input("Mixture components", 1, 50, 10, disabled=kind != "mixture", key="sample_k",
                                 bind="query-params", help="Full-covariance Gaussians in the mixture.")
temperature = row[2].slider("Temperature", 0.0, 2.0, 1.0, 0.05, key="sample_t", bind="query-params",
                            help="Scales each draw's spread around its mean: below 1 gives safer, more typical "
                                 "samples; above 1 more varied and more broken ones.")
seed = row[3].number_input("Seed", 0, 2**31 - 1, 0, help="The same seed draws the same samples.", key="sample_seed",
                           bind="query-params")
count = row[4].number_input("How many", 1, MAX_COUNT, 16, key="sample_n", bind="query-params")

try:
    if kind == "prior":
        sampler = latent.CodeSampler.fit("prior", latent_dim=engine.latent_dim)
    else:
        sampler = fitted_sampler(engine.source.content_hash, dataset.identity, kind,
                                 int(components) if kind == "mixture" else 1, train_codes)
    samples = sampler.sample(int(count), int(seed), float(temperature))
    nearest_rows, distances = latent.nearest(samples, train_codes)
except ValueError as e:
    st.error(f"Cannot sample: {e}.")
    st.stop()

decoded = engine.decode(samples)
nearest_idx = pool[nearest_rows]
pairs = render.side_by_side(decoded, dataset.x[nearest_idx])
captions = [f"d = {d:.2f} · nearest {index_caption(dataset, int(i))}"
            for d, i in zip(distances, nearest_idx)]

st.markdown(f"**{len(samples)} samples** (left of each pair) and their nearest training images (right); "
            f"d is the Euclidean distance between the codes."
            + (f" The samplers are fitted on, and the nearest images found among, a seeded sample of {len(pool):,} of "
               f"the {len(dataset.train_idx):,} training codes." if len(pool) < len(dataset.train_idx) else ""))
display.show_gallery(pairs, captions, side=112)
display.png_download(pairs, PAIRS_PER_ROW, f"samples-{engine.source.name}-{kind}-seed{seed}.png",
                    key="samples")
spacing = neighbour_spacing(engine.source.content_hash, dataset.identity, train_codes)
st.caption(f"For scale: a training code's nearest other training code is a median {spacing:.2f} away; these samples "
           f"are a median {np.median(distances):.2f} from theirs. Much closer than that hints at copying.")
