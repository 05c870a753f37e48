"""Every command the README and the docstrings in examples/ show runs as written after the
README's install: it names a program the install provides (never a bare `python`), and what it
asks for exists. Checked without running the slow ones (a 60-epoch training, a benchmark):
the explorer's commands are parsed by its own parser and their inputs found, a benchmark's flags
found in its parser, a script's file found, a shell script syntax-checked; the cheap ones run:
the README's export (the `readme_export` fixture) and the examples' one-line Python.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from commands import ROOT, Command, shown_commands
from explorer.__main__ import build_parser
from explorer.dataset_spec import is_named
from explorer.settings import ENV, server_models
from explorer.ui.paths import allowed_roots, is_inside

COMMANDS = shown_commands()
PROGRAMS = (".venv/bin/python", ".venv/bin/streamlit", ".venv/bin/pip", "bash", "npm",
            ".venv/bin/ray")  # npm: the front end's; ray: requirements-scale.txt's
PLACEHOLDER = re.compile(r"\bNAME\b")  # checkpoints/NAME: "the one you pick"


def parts(command: Command) -> list[tuple[dict[str, str], list[str]]]:
    """(environment assignments, words) of each command joined by &&."""
    found, words = [], command.words()
    while words:
        part = words[: words.index("&&")] if "&&" in words else words
        words = words[len(part) + 1:]
        env = {}
        while part and re.fullmatch(r"[A-Z_]+=\S*", part[0]):
            key, _, value = part.pop(0).partition("=")
            env[key] = value
        if part[:1] == ["flock"]:  # `flock /tmp/heavy.lock <command>`: the command is what must run
            part = part[2:]
        found.append((env, part))
    return found


def produced_before(command: Command) -> set[str]:
    """Paths the commands before ``command`` in its block write (--out, --onnx)."""
    earlier = [c for c in COMMANDS if c.block == command.block and c.where == command.where]
    out = set()
    for other in earlier[: earlier.index(command)]:
        words = other.words()
        out |= {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--out", "--onnx")}
    return out


def exists(path: str, produced: set[str]) -> bool:
    return (ROOT / path).exists() or path in produced or bool(PLACEHOLDER.search(path))


def check_explorer(args: list[str], produced: set[str]) -> None:
    try:
        parsed = build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"python -m explorer does not accept {' '.join(args)}")
    checkpoint = getattr(parsed, "checkpoint", None)
    if checkpoint is not None:
        assert exists(checkpoint, produced), f"{checkpoint} does not exist and no earlier command writes it"
    dataset = getattr(parsed, "dataset", None)
    if dataset:
        assert is_named(dataset) or exists(dataset, produced), dataset
    if getattr(parsed, "onnx", None):  # an export the sidebar's path box must then open
        assert is_inside((ROOT / parsed.onnx).resolve(), allowed_roots()), f"{parsed.onnx} is not a typed-path root"


def check_part(env: dict[str, str], words: list[str], command: Command) -> None:
    program, args = words[0], words[1:]
    if words[:3] == ["python3", "-m", "venv"]:
        return  # the install itself
    assert program in PROGRAMS, f"{program} is not what the README's install provides (use .venv/bin/…)"
    if program == ".venv/bin/pip":
        if "-e" in args:  # the project itself, editable (its pyproject.toml declares the components)
            assert (ROOT / args[args.index("-e") + 1] / "pyproject.toml").is_file()
        else:
            assert (ROOT / args[args.index("-r") + 1]).is_file()
    elif program == ".venv/bin/ray":  # `ray job submit ... -- python -m explorer ...`: run by the cluster's python
        assert args[:2] == ["job", "submit"] and "--" in args, args
        job = args[args.index("--") + 1:]
        assert job[:3] == ["python", "-m", "explorer"], job
        check_explorer(job[3:], produced_before(command))
    elif program == "npm":
        assert args[0] in ("ci", "run"), args  # the lock file's versions, or a script of package.json
        folder = ROOT / args[args.index("--prefix") + 1] if "--prefix" in args else ROOT
        assert (folder / "package-lock.json").is_file(), f"{folder} has no package-lock.json"
    elif program == "bash":
        script = ROOT / args[0]
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, f"{script}: syntax"
    elif program == ".venv/bin/streamlit":
        assert args[:2] == ["run", "app.py"] and (ROOT / "app.py").is_file()
        named = server_models(args[args.index("--") + 1:] if "--" in args else [], {ENV['models']: env.get(ENV['models'], '')})
        assert all(path.is_file() for path in named), named
    elif args[:2] == ["-m", "explorer"]:
        check_explorer(args[2:], produced_before(command))
    elif args[:1] == ["-m"] and args[1].startswith("benchmarks."):
        source = (ROOT / "benchmarks" / f"{args[1].split('.', 1)[1]}.py").read_text()
        for flag in (a for a in args[2:] if a.startswith("--")):
            assert f'"{flag}"' in source, f"{args[1]} has no {flag}"
    elif args[:2] == ["-m", "pytest"]:
        declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
        markers = {m.split(":")[0] for m in declared}
        if "-m" in args[2:]:
            used = set(re.findall(r"\w+", args[args.index("-m", 2) + 1])) - {"not", "and", "or"}
            assert used <= markers, used - markers
    elif args[:1] == ["-c"]:
        compile(args[1], "<-c>", "exec")
    else:
        script = ROOT / args[0]
        assert script.is_file() and '__name__ == "__main__"' in script.read_text(), script


@pytest.mark.parametrize("command", COMMANDS, ids=[c.text[:70] for c in COMMANDS])
def test_command_runs_after_the_install(command):
    for env, words in parts(command):
        check_part(env, words, command)


def test_the_commands_were_found():
    """The extraction itself: the README's blocks, its inline commands and the examples' docstrings."""
    texts = [c.text for c in COMMANDS]
    assert ".venv/bin/python -m explorer export checkpoints/mnist-vae --onnx exported/mnist-vae" in texts
    assert any(t.startswith(".venv/bin/python -m benchmarks.") for t in texts)
    assert any(c.where.startswith("examples/keras_autoencoders.py") for c in COMMANDS)
    assert len({c.where.split(",")[0] for c in COMMANDS}) == 3


def test_a_bare_python_is_refused():
    """The check that caught `python examples/keras_autoencoders.py`: outside the venv it fails."""
    bare = Command("a docstring", "KERAS_BACKEND=torch python examples/keras_autoencoders.py data/keras", 0)
    with pytest.raises(AssertionError, match="is not what the README's install provides"):
        for env, words in parts(bare):
            check_part(env, words, bare)


def test_the_examples_one_line_python_runs(tmp_path):
    (command,) = [c for c in COMMANDS if " -c " in c.text]
    (_, words), = parts(command)
    python = ROOT / words[0] if (ROOT / words[0]).exists() else Path(sys.executable)
    # The example trains itself for a minute the first time; its own knobs make that a second here.
    env = {**os.environ, "OWN_MODEL_WEIGHTS": str(tmp_path / "own.safetensors"), "OWN_MODEL_TRAIN_SECONDS": "1"}
    done = subprocess.run([str(python), *words[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<PythonModel " in done.stdout and "[1, 28, 28] -> 16" in done.stdout


def test_the_readmes_export_writes_a_folder_the_app_opens(readme_export):
    from explorer.sources import open_model

    model = open_model(readme_export)
    assert model.kind == "onnx" and model.name == "mnist-vae" and model.latent_dim == 16
