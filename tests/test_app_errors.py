"""Bad input typed into the sidebar of the whole app (Streamlit's AppTest): a broken
checkpoint, one that does not fit the dataset, a path leading outside the allowed folders, a
bad dataset path. Each shows a specific message where it belongs, nothing raises, and the
pages keep working with the shipped checkpoint."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.checkpoint import CONFIG_NAME, WEIGHTS_NAME, save
from explorer.models import build
from explorer.shipped import SHIPPED_DIR
from explorer.ui.paths import ROOTS_ENV

APP = str(SHIPPED_DIR.parent / "app.py")
SHIPPED = SHIPPED_DIR / "mnist-ae"
OUTSIDE = "is outside the folders this app may read"



def start(page: str = "sliders") -> AppTest:
    """The app with the shipped mnist-ae and MNIST picked, on ``page``."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(ckpt="mnist-ae", data="mnist")
    at.switch_page(f"explorer/ui/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def type_checkpoint_path(at: AppTest, text: str) -> AppTest:
    at.sidebar.text_input(key="ckpt_path").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sidebar_errors(at: AppTest) -> list[str]:
    return [e.value for e in at.sidebar.error]


def page_errors(at: AppTest) -> list[str]:
    return [e.value for e in at.main.error]


def active_model(at: AppTest) -> str:
    return next(m.value for m in at.sidebar.markdown if m.value.startswith("**"))


def assert_page_works(at: AppTest, page: str) -> None:
    """``page`` renders its images, with no exception and no error on the page itself."""
    at.switch_page(f"explorer/ui/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert page_errors(at) == []
    assert len(at.main.image) > 0, f"{page} showed no image"
    assert active_model(at) == "**mnist-ae**"


def truncated_checkpoint(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(SHIPPED / CONFIG_NAME, folder / CONFIG_NAME)
    weights = (SHIPPED / WEIGHTS_NAME).read_bytes()
    (folder / WEIGHTS_NAME).write_bytes(weights[: len(weights) // 2])
    return folder


def small_input_checkpoint(folder: Path) -> Path:
    """A valid checkpoint made for 8x8 images (like scikit-learn's digits)."""
    args = json.loads((SHIPPED / CONFIG_NAME).read_text())["model"]
    args.update(input_shape=[1, 8, 8], hidden=[32], latent_dim=4)
    return save(build("ae", args), folder, meta={"name": "tiny-8x8"})


def test_truncated_checkpoint_by_path_shows_an_error_and_pages_keep_working(roots):
    allowed, _ = roots
    folder = truncated_checkpoint(allowed / "broken")
    at = type_checkpoint_path(start(), str(folder))
    errors = sidebar_errors(at)
    assert len(errors) == 1, errors
    assert errors[0].startswith("Checkpoint broken: model.safetensors: the file is truncated"), errors
    assert active_model(at) == "**mnist-ae**"  # the shipped checkpoint stays active
    assert page_errors(at) == []
    for page in ("sliders", "sample"):
        assert_page_works(at, page)
        assert any("the file is truncated" in e for e in sidebar_errors(at))  # still said, on every page


def test_checkpoint_for_another_input_shape_is_explained_on_the_page(roots):
    allowed, _ = roots
    folder = small_input_checkpoint(allowed / "tiny")
    at = type_checkpoint_path(start(), str(folder))
    assert active_model(at) == "**tiny-8x8**"  # it loads: it is a valid checkpoint
    assert sidebar_errors(at) == []
    errors = page_errors(at)
    assert len(errors) == 1 and "tiny-8x8 expects images of shape [1, 8, 8] (C, H, W) but dataset mnist has " \
                                  "[1, 28, 28]: pick a matching dataset or model" in errors[0], errors
    assert len(at.main.image) == 0
    at.switch_page("explorer/ui/pages/sample.py").run()
    assert not at.exception and len(page_errors(at)) == 1 and "[1, 8, 8]" in page_errors(at)[0]

    at.sidebar.text_input(key="ckpt_path").input("").run()  # back to the shipped checkpoint
    for page in ("sample", "sliders"):
        assert_page_works(at, page)
    assert sidebar_errors(at) == []


def test_checkpoint_behind_a_symlink_leading_outside_is_refused(roots):
    allowed, outside = roots
    shutil.copytree(SHIPPED, outside / "elsewhere")
    (allowed / "link").symlink_to(outside / "elsewhere")
    at = type_checkpoint_path(start(), str(allowed / "link"))
    errors = sidebar_errors(at)
    assert len(errors) == 1 and errors[0].startswith(f"Checkpoint path: {allowed / 'link'} {OUTSIDE}"), errors
    assert ROOTS_ENV in errors[0]
    assert active_model(at) == "**mnist-ae**"
    assert_page_works(at, "sample")


@pytest.mark.parametrize("make, expected", [
    (lambda root: "checkpoints/" + "x" * 5000, "cannot be used (File name too long)"),
    (lambda root: (root / "a").symlink_to(root / "a") or str(root / "a"), "loops back on itself"),
    (lambda root: "checkpoints/../app.py", "paths with '..' are not accepted"),
    (lambda root: "checkpoints/not-there", "checkpoints/not-there: no such file or folder"),
], ids=["overlong", "symlink-loop", "dotdot", "missing"])
def test_odd_checkpoint_paths_give_a_message_not_a_crash(roots, make, expected):
    allowed, _ = roots
    at = type_checkpoint_path(start("sample"), make(allowed))
    errors = sidebar_errors(at)
    assert len(errors) == 1 and errors[0].startswith("Checkpoint path: ") and expected in errors[0], errors
    assert page_errors(at) == [] and len(at.main.image) > 0  # the page went on with mnist-ae


def pick_dataset_path(at: AppTest, text: str) -> AppTest:
    at.sidebar.selectbox(key="data").set_value("folder or .npz path").run()
    at.sidebar.text_input(key="data_path").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_dataset_path_outside_the_roots_is_refused(roots):
    _, outside = roots
    np.savez(outside / "digits.npz", x=np.random.default_rng(0).random((20, 28, 28)).astype(np.float32))
    at = pick_dataset_path(start("sample"), str(outside / "digits.npz"))
    errors = sidebar_errors(at)
    assert len(errors) == 1 and errors[0].startswith(f"Dataset: {outside / 'digits.npz'} {OUTSIDE}"), errors
    assert [i.value for i in at.main.info] == ["The dataset picked in the sidebar could not be opened: the sidebar says why."]


def test_unreadable_dataset_file_is_explained(roots):
    allowed, _ = roots
    (allowed / "data.npz").write_bytes(b"this is not a zip archive")
    at = pick_dataset_path(start("sample"), str(allowed / "data.npz"))
    errors = sidebar_errors(at)
    assert len(errors) == 1 and errors[0].startswith("Dataset: data.npz: not a readable .npz file"), errors
    assert [i.value for i in at.main.info] == ["The dataset picked in the sidebar could not be opened: the sidebar says why."]


def test_image_folder_with_an_unreadable_file_warns_and_is_used(roots):
    allowed, _ = roots
    folder = allowed / "digits"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for i in range(12):  # light strokes on black, each a little different
        picture = np.zeros((28, 28), np.uint8)
        picture[6:22, 12 + i % 4: 15 + i % 4] = 255
        picture[6:9, 8:20] = rng.integers(128, 256)
        Image.fromarray(picture).save(folder / f"{i:02d}.png")
    (folder / "junk.png").write_bytes(b"<html>not an image</html>")
    at = pick_dataset_path(start("sample"), str(folder))
    assert sidebar_errors(at) == []
    warnings = [w.value for w in at.sidebar.warning]
    assert warnings == ["Dataset: 1 file(s) could not be read and were left out, e.g. junk.png: not an image this "
                        "app can read (accepted: PNG, JPEG, GIF, BMP, TIFF, WebP)"], warnings
    assert not any("dataset" in i.value for i in at.main.info)


def test_a_hostile_link_and_a_python_upload_get_our_messages_not_a_crash():
    """A 5,000-digit number for a number widget crashed the page inside Streamlit (infinity made a
    whole number); one typed as a shapes size showed Python's sys.set_int_max_str_digits() text; a
    .py sent to the checkpoint uploader hit Streamlit's own type check first (the whole page an error)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(ckpt="mnist-ae", data="folder or .npz path", data_path="shapes:" + "9" * 5000,
                           sample_seed="9" * 5000, sample_n="1e999")
    at.switch_page("explorer/ui/pages/sample.py").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = sidebar_errors(at)
    assert errors[:2] == ["Link: sample_seed was a number of 5,000 characters, not a value any setting takes; it was left out",
                          "Link: sample_n was not a finite number, not a value any setting takes; it was left out"]
    assert errors[2].startswith("Dataset: 'shapes:999999999999999999999999999999999': the size after 'shapes:' must be")
    assert not any("set_int_max_str_digits" in e for e in errors) and "sample_seed" not in at.query_params

    at.sidebar.file_uploader(key="ckpt_upload").set_value([("evil.py", b"open('/tmp/pwned', 'w')", "text/x-python")])
    at.sidebar.selectbox(key="data").set_value("mnist").run()
    assert not at.exception, [e.value for e in at.exception]
    assert sidebar_errors(at) == ["Uploaded checkpoint: a Python adapter runs code, so it is accepted only from the person "
                                  "who starts the server (streamlit run app.py -- --model FILE.py, or "
                                  "$LATENT_EXPLORER_MODELS), never from the browser"]
    assert active_model(at) == "**mnist-ae**" and len(at.main.image) > 0


AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "not-a-real-secret",
        "client_id": "latent-explorer", "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://login.example.org/.well-known/openid-configuration"}


def test_with_a_login_provider_configured_only_people_logged_in_get_in():
    """Serving the app to a team with Streamlit's own authentication ([auth] in secrets.toml)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.query_params.update(ckpt="mnist-ae", data="mnist")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [i.value for i in at.info] == ["This server lets in only people who log in."]
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.sidebar.multiselect and not at.get("plotly_chart")  # nothing of the app runs
    at.user = {"is_logged_in": True, "email": "ada@example.org"}
    at.switch_page("explorer/ui/pages/sample.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Logged in as ada@example.org" in [c.value for c in at.sidebar.caption]
    assert active_model(at) == "**mnist-ae**" and len(at.main.image) > 0
