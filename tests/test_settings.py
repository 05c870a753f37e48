"""Every setting read in one place (explorer/settings.py), and the README's table of them true."""
from __future__ import annotations

import dataclasses
import inspect
import os
import re
from pathlib import Path

import pytest

from explorer import settings

ROOT = Path(__file__).resolve().parents[1]


def field_comments() -> dict[str, str]:
    """Each field of Settings -> the comment on its line."""
    source = inspect.getsource(settings.Settings)
    return dict(re.findall(r"^    (\w+): .*?  # (.+)$", source, re.M))


def readme_table() -> dict[str, str]:
    """The README's settings table: variable -> what it sets."""
    section = ROOT.joinpath("README.md").read_text().split("## Settings", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(LATENT_EXPLORER_\w+)` \| (.+?) \|$", section, re.M))


def test_the_readme_lists_every_setting_as_the_settings_module_says_it():
    comments = field_comments()
    assert set(comments) == {f.name for f in dataclasses.fields(settings.Settings)}  # every field carries one
    assert readme_table() == {settings.ENV[name]: comment for name, comment in comments.items()}


def test_settings_are_read_from_the_environment_and_the_command_line(tmp_path):
    assert settings.read({}, []) == settings.Settings()
    assert settings.read({name: "" for name in settings.ENV.values()}, []) == settings.Settings()  # empty: unset
    adapter = tmp_path / "a.py"
    read = settings.read({"LATENT_EXPLORER_CACHE": str(tmp_path / "c"), "LATENT_EXPLORER_DEVICE": "cpu",
                          "LATENT_EXPLORER_ROOTS": os.pathsep.join([str(tmp_path), "", "/data"]),
                          "LATENT_EXPLORER_RUNTIME": "torch", "LATENT_EXPLORER_WARM_START": "0",
                          "LATENT_EXPLORER_CACHE_GB": "2.5", "LATENT_EXPLORER_ENGINE_MB": "512",
                          "LATENT_EXPLORER_MAP_QUEUE": "3"},
                         ["--model", str(adapter), "--server.port", "8501"])
    assert read == settings.Settings(cache=tmp_path / "c", roots=(tmp_path, Path("/data")), models=(adapter.resolve(),),
                                     device="cpu", runtime="torch", warm_start=False, cache_gb=2.5, engine_mb=512.0,
                                     map_queue=3)


@pytest.mark.parametrize("variable, value", [("LATENT_EXPLORER_CACHE_GB", "ten"), ("LATENT_EXPLORER_ENGINE_MB", "-1"),
                                             ("LATENT_EXPLORER_MAP_QUEUE", "2.5"), ("LATENT_EXPLORER_CACHE_GB", "nan"),
                                             ("LATENT_EXPLORER_CACHE_GB", "9" * 5000)])
def test_a_limit_that_is_not_a_positive_number_is_refused_by_name(variable, value):
    with pytest.raises(ValueError, match=f"^{variable} must be a positive "):
        settings.read({variable: value}, [])
