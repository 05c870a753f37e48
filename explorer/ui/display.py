"""Drawing images crisp (pixels stay pixels) and offering them, or tables, as downloads."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import streamlit as st

from ..render import grid, png_bytes, upscale


def show_image(image: np.ndarray, caption: str | None = None, min_side: int = 140) -> None:
    """Upscaled without smoothing, so 28x28 pixels stay pixels."""
    st.image(upscale(image, min_side), caption=caption)


def show_grid(images: np.ndarray, ncols: int, caption: str | None = None, key: str = "grid",
              cell: int = 84, filename: str = "grid.png") -> None:
    """An image grid shown crisp and large, with a PNG download of it."""
    if len(images) == 0:
        st.info("Nothing to show.")
        return
    picture = grid(images, ncols)
    factor = max(1, cell // images.shape[-1])
    st.image(upscale(picture, picture.shape[0] * factor), caption=caption)
    st.download_button("Download PNG", png_bytes(picture, picture.shape[0] * factor), file_name=filename,
                       mime="image/png", key=f"dl-{key}")


def show_gallery(images: np.ndarray, captions: list[str], side: int = 84) -> None:
    """Images side by side, each upscaled crisp to about ``side`` pixels, with its own caption."""
    if len(images) == 0:
        st.info("Nothing to show.")
        return
    pictures = [upscale(image, side) for image in images]
    # A fixed width: otherwise a caption wider than its picture stretches the picture out of shape.
    st.image(pictures, caption=list(captions), width=pictures[0].shape[1])


def png_download(images: np.ndarray, ncols: int, filename: str, key: str, label: str = "Download PNG",
                 cell: int = 84) -> None:
    """A download button for images tiled into one crisp PNG (without showing the tiles again)."""
    picture = grid(images, ncols)
    factor = max(1, cell // images.shape[-2])
    st.download_button(label, png_bytes(picture, picture.shape[0] * factor), file_name=filename,
                       mime="image/png", key=f"dl-{key}")


def csv_download(frame: pd.DataFrame, label: str, filename: str, key: str) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    st.download_button(label, buf.getvalue(), file_name=filename, mime="text/csv", key=key)
