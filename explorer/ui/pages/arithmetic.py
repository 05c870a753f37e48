"""Arithmetic: an attribute vector (mean code of group A minus that of group B) added to chosen
images in steps, and analogies a − b + c."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import latent
from explorer.indices import evenly_spaced, index_caption, parse_indices
from explorer.render import grid
from explorer.ui import dataset_cache, display, handoffs, session

GROUPS_KEY = "arithmetic_saved_groups"  # {"A": (dataset identity, indices), "B": ...}: saved map selections
SOURCES = {"labels": "two labels", "factor": "two values of one factor", "selections": "two saved map selections"}
DEFAULT_TARGETS = 4
MAX_TARGETS = 12


def save_group(name: str, dataset_identity: str, indices: list[int]) -> None:
    st.session_state.setdefault(GROUPS_KEY, {})[name] = (dataset_identity, list(indices))


def saved_group(name: str, dataset_identity: str) -> list[int]:
    """A saved selection, empty when there is none or it was made on another dataset."""
    identity, indices = st.session_state.get(GROUPS_KEY, {}).get(name, (None, []))
    return indices if identity == dataset_identity else []


engine, dataset = session.page_start(
    "Arithmetic",
    "An attribute vector is the mean code of group A minus the mean code of group B: adding it to a code "
    "moves that image from \"like B\" towards \"like A\".",
)
codes = dataset_cache.dataset_codes(engine, dataset).codes
size = len(dataset.x)

st.subheader("Attribute vector")
sources = ((["labels"] if dataset.y is not None and dataset.classes else [])
           + (["factor"] if dataset.factors is not None else []) + ["selections"])
source = st.radio("Groups from", sources, format_func=SOURCES.get, horizontal=True, key="arithmetic_groups",
                  bind="query-params")
if source == "labels":
    classes = dataset.classes
    pick = st.columns(2)
    label_a = pick[0].selectbox("Group A: towards", classes, index=min(1, len(classes) - 1), key="arithmetic_a",
                                bind="query-params")
    label_b = pick[1].selectbox("Group B: away from", classes, key="arithmetic_b", bind="query-params")
    # the vector comes from the training split, so applying it to test images is a fair test
    train_labels = dataset.y[dataset.train_idx]
    group_a = dataset.train_idx[latent.labels_to_indices(train_labels, classes.index(label_a))]
    group_b = dataset.train_idx[latent.labels_to_indices(train_labels, classes.index(label_b))]
    test_b = dataset.test_idx[dataset.y[dataset.test_idx] == classes.index(label_b)]
    names = (f"label {label_a}", f"label {label_b}")
elif source == "factor":
    pick = st.columns(3)
    factor = pick[0].selectbox("Factor", dataset.factor_names, key="arithmetic_factor", bind="query-params")
    k = dataset.factor_names.index(factor)
    column = dataset.factors[:, k]
    values = [int(v) for v in np.unique(column)]
    words = dataset.factor_values[k] if dataset.factor_values else [str(v) for v in range(max(values) + 1)]
    value_a = pick[1].selectbox("Value A: towards", values, index=len(values) - 1, format_func=words.__getitem__,
                                key="arithmetic_fa", bind="query-params")
    value_b = pick[2].selectbox("Value B: away from", values, format_func=words.__getitem__, key="arithmetic_fb",
                                bind="query-params")
    # the other factors vary independently, so the mean difference isolates this one
    group_a = dataset.train_idx[latent.labels_to_indices(column[dataset.train_idx], value_a)]
    group_b = dataset.train_idx[latent.labels_to_indices(column[dataset.train_idx], value_b)]
    test_b = dataset.test_idx[column[dataset.test_idx] == value_b]
    names = (f"{factor} {words[value_a]}", f"{factor} {words[value_b]}")
else:
    selection = handoffs.get_selection(dataset)
    save = st.columns(3)
    save[0].markdown(f"Current map selection: **{len(selection):,}** images")
    save[1].button("Save it as group A", on_click=save_group, args=("A", dataset.identity, selection),
                   disabled=not selection, width="stretch")
    save[2].button("Save it as group B", on_click=save_group, args=("B", dataset.identity, selection),
                   disabled=not selection, width="stretch")
    group_a = np.array(saved_group("A", dataset.identity), dtype=np.int64)
    group_b = np.array(saved_group("B", dataset.identity), dtype=np.int64)
    test_b = group_b
    names = ("group A", "group B")
    st.caption(f"Saved: group A has {len(group_a):,} images, group B {len(group_b):,}. Select points on the Map "
               f"(box or lasso), come back and save them here.")

vector = None
if len(group_a) == 0 or len(group_b) == 0:
    empty = " and ".join(n for n, g in zip(("Group A", "Group B"), (group_a, group_b)) if len(g) == 0)
    hint = {"labels": "this label has no training images", "factor": "this value has no training images",
            "selections": "select images on the Map and save the selection here"}[source]
    st.warning(f"{empty} {'is' if ' and ' not in empty else 'are'} empty: {hint}. The vector needs both groups.")
else:
    vector = latent.attribute_vector(codes, group_a, group_b)
    norm = float(np.linalg.norm(vector))
    st.caption(f"{names[0]} ({len(group_a):,} images) − {names[1]} ({len(group_b):,} images): "
               f"vector length {norm:.2f}.")
    if norm == 0:
        st.warning("The two groups have the same mean code, so the vector is zero and changes nothing: "
                   "pick two different groups.")

if vector is not None:
    settings = st.columns([3, 2, 2])
    default_targets = ", ".join(str(i) for i in test_b[:DEFAULT_TARGETS])
    typed = settings[0].text_input("Apply to dataset indices", placeholder=f"empty: {default_targets or 'none'} "
                                   f"(from {names[1]})", help="Comma-separated; up to 12 images, one column each.",
                                   key="arithmetic_to", bind="query-params")
    low, high = settings[1].slider("Strength α from … to", -3.0, 3.0, (0.0, 2.0), 0.25, key="arithmetic_alpha",
                                   bind="query-params",
                                   help="Each row adds α times the vector; α = 0 is the plain reconstruction.")
    steps = settings[2].number_input("Rows (values of α)", 2, 9, 5, key="arithmetic_rows", bind="query-params")
    try:
        targets = parse_indices(typed or default_targets, size)
    except ValueError as e:
        st.error(f"Apply to: {e}.")
        targets = []
    if len(targets) > MAX_TARGETS:
        st.caption(f"{len(targets)} indices typed; the first {MAX_TARGETS} are used.")
        targets = targets[:MAX_TARGETS]
    pins = handoffs.get_pins(engine, dataset)
    use_pin = bool(pins) and st.checkbox(f"Also apply it to the code pinned on the Map ({pins[-1].where})",
                                          key="arithmetic_pin", help="A click on the Map pins the code under the cursor.")
    starts = [codes[i] for i in targets] + ([pins[-1].code.astype(codes.dtype)] if use_pin else [])
    if starts:
        alphas = np.linspace(low, high, int(steps))
        # rows of the picture are values of alpha, columns the chosen images (and the pinned code)
        moved = np.stack([latent.apply_attribute(code, vector, alphas) for code in starts], axis=1)
        images = engine.decode(moved.reshape(-1, codes.shape[1]))
        st.markdown("Columns: " + ", ".join([index_caption(dataset, i) for i in targets]
                                            + (["the pinned code"] if use_pin else [])))
        columns = len(starts)
        for alpha, row_start in zip(alphas, range(0, len(images), columns)):
            left, right = st.columns([1, 7], vertical_alignment="center")
            left.markdown(f"**α = {alpha:+.2f}**")
            if np.isclose(alpha, 0):
                left.caption("reconstruction")
            with right:
                display.show_image(grid(images[row_start: row_start + columns], columns), min_side=84)
        display.png_download(images, columns, f"attribute-{engine.source.name}.png", key="attribute")

st.subheader("Analogy: a − b + c")
st.caption("\"a is to b as ? is to c\": the code of a, minus that of b, plus that of c, decoded.")
spread = [int(i) for i in evenly_spaced(dataset.test_idx, 3)]  # far apart, likely different labels
picks = st.columns(3)
chosen = [picks[k].number_input(f"{name} (dataset index)", 0, size - 1, spread[k], key=f"arithmetic_q{name}",
                                bind="query-params")
          for k, name in enumerate("abc")]
a, b, c = (int(i) for i in chosen)
result = engine.decode(latent.analogy(codes[a], codes[b], codes[c])[None])[0]
display.show_gallery(np.stack([dataset.x[a], dataset.x[b], dataset.x[c], result]),
                    [f"a: {index_caption(dataset, a)}", f"b: {index_caption(dataset, b)}",
                     f"c: {index_caption(dataset, c)}", "a − b + c (decoded)"], side=140)
