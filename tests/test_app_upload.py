"""The Upload page's verdict in Streamlit's simulated browser: how typical an upload is, judged by
where its code lies among the training codes and by its reconstruction error, with the numbers."""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from benchmarks import upload_images
from benchmarks.upload_images import even_texture
from explorer.data import load_mnist

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = re.compile(r"farther from its nearest training codes than (\d+\.\d)% .* worse than (\d+\.\d)%")


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((a * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def upload_page(name: str, data: bytes) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params.update(ckpt="mnist-vae", data="mnist")
    at.session_state["upload_bytes"] = (name, data)  # what the uploader keeps across reruns
    at.switch_page("explorer/ui/pages/upload.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def verdict_text(at: AppTest) -> str:
    boxes = [box.value for box in [*at.success, *at.warning, *at.error] if "training codes" in box.value]
    assert len(boxes) == 1, [*at.success, *at.warning, *at.error]
    return boxes[0]


@pytest.fixture(scope="module")
def test_digit() -> bytes:
    dataset = load_mnist()
    return png(dataset.x[dataset.test_idx[0], 0])


def test_a_test_digit_is_called_typical_with_both_numbers(test_digit):
    at = upload_page("digit.png", test_digit)
    assert not at.error, [e.value for e in at.error]
    text = verdict_text(at)
    assert text.startswith("**Typical**")
    distance, error = map(float, NUMBERS.search(text).groups())
    assert distance < 95 and error < 95
    assert any("Mean distance to its 10 nearest training codes" in m.label for m in at.metric)


def test_an_even_texture_is_refused_before_it_is_encoded():
    at = upload_page("wall.png", even_texture())
    assert any("Cannot use wall.png: this does not look like a handwritten digit. No single shape stands out"
               in e.value for e in at.error), [e.value for e in at.error]
    assert not at.metric, "nothing was encoded"


def test_a_photo_of_a_cat_is_refused_in_words_a_person_checks_by_looking():
    """Once refused as "nothing stands out from the background (it looks like noise or an even
    texture)": right verdict, a reason nobody sees in a cat. Now what was measured, and a second
    measure: how far its code, read as it is, lies from the training digits' codes."""
    rng = np.random.default_rng(5)
    at = upload_page("cat.jpg", upload_images.encoded(upload_images.cat(rng), rng))
    (error,) = [e.value for e in at.error]
    assert error.startswith("Cannot use cat.jpg: this does not look like a handwritten digit. Nothing in it stands "
                            "out from the tones along its edges: there is no plain paper around a shape"), error
    assert "noise" not in error and error.endswith("Upload a picture of a single digit.")
    (witness,) = [c.value for c in at.caption if c.value.startswith("Read as it is")]
    share = float(re.search(r"than (\d+\.\d)% of the test images' codes", witness).group(1))
    assert share > 95, witness  # far out: a cat's code is unlike any digit's
    assert not at.metric, "the refused picture is not shown as encoded"


def test_an_even_texture_without_mnist_preprocessing_is_unlike_the_training_data():
    # Plain resizing keeps the whole texture: it reaches the model, and the verdict says so plainly.
    at = upload_page("wall.png", even_texture())
    at.toggle(key="upload_mnist_style").set_value(False).run()
    text = verdict_text(at)
    assert text.startswith("**Unlike the training data**")
    assert text in [e.value for e in at.error]
    distance, error = map(float, NUMBERS.search(text).groups())
    assert max(distance, error) >= 99.5 and distance > 95
