"""The shell commands the README and the docstrings in examples/ show a reader, as the reader
would copy them: fenced ```bash blocks (backslash continuations joined, comments dropped), inline
code that starts with a program, and the indented command lines of a module docstring."""
from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What an inline code span must start with to be a command (a program, or an environment assignment).
PROGRAM_START = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:\.venv/|python|streamlit|pytest|pip|bash |flock )")


@dataclass(frozen=True)
class Command:
    where: str  # "README.md, block 3" or "examples/own_pytorch_model.py, docstring"
    text: str  # as shown, on one line
    block: int  # commands of one fenced block (or one docstring) share it: later ones may use earlier outputs

    def words(self) -> list[str]:
        return shlex.split(self.text)


def fenced_commands(text: str, where: str) -> list[Command]:
    found = []
    for number, block in enumerate(re.findall(r"```bash\n(.*?)```", text, flags=re.S), 1):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                found.append(Command(f"{where}, block {number}", line.split("  #")[0].strip(), number))
    return found


def inline_commands(text: str, where: str) -> list[Command]:
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    spans = (" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose))
    return [Command(f"{where}, inline", span, -i - 1) for i, span in enumerate(spans) if PROGRAM_START.match(span)]


def docstring_commands(path: Path) -> list[Command]:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    lines = [line.strip() for line in doc.splitlines() if line.startswith("    ") and line.strip()]
    where = f"{path.relative_to(ROOT)}, docstring"
    return [Command(where, line.split("  #")[0].strip(), 0) for line in lines if PROGRAM_START.match(line.strip())]


def shown_commands() -> list[Command]:
    """Every command the README and the examples' docstrings show."""
    readme = (ROOT / "README.md").read_text()
    found = fenced_commands(readme, "README.md") + inline_commands(readme, "README.md")
    for path in sorted((ROOT / "examples").glob("*.py")):
        found += docstring_commands(path)
    return found
