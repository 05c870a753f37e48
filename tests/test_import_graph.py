"""No module of explorer/ imports one that imports it back, however deep the import sits (inside a
function too): each module can be read, tested and replaced with only what lies below it.

An import counts as an edge to the module it names (``from . import cache`` -> explorer.cache;
``from .sources import Model`` -> explorer.sources). Python also runs a package's __init__ before
any module in it; that implicit step is not counted, as no import statement asks for it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under ``package`` (a package by its __init__.py)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # "import a.b.c" names a.b.c, or the nearest module above
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that reach each other (strongly connected components of two or more)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def import_graph(package: Path) -> dict[str, set[str]]:
    modules = module_names(package)
    return {name: imported(name, path, modules) for name, path in modules.items()}


def test_no_module_of_explorer_imports_one_that_imports_it_back():
    graph = import_graph(ROOT / "explorer")
    assert len(graph) > 50 and "explorer.sources.onnx" in graph["explorer.sources"]  # the walk sees the package
    found = cycles(graph)
    assert not found, "import cycles (function-local imports included):\n" + "\n".join(" <-> ".join(c) for c in found)


def test_a_cycle_through_a_function_local_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .. import low\n")
    (package / "low.py").write_text("def f():\n    from .sub import helper\n")
    (package / "sub" / "helper.py").write_text("import pkg.low\n")
    (package / "top.py").write_text("from pkg import low\nfrom .sub import helper\n")
    graph = import_graph(package)
    assert graph["pkg.low"] == {"pkg.sub.helper"} and graph["pkg.sub"] == {"pkg.low"}
    assert graph["pkg.top"] == {"pkg.low", "pkg.sub.helper"}
    assert cycles(graph) == [["pkg.low", "pkg.sub.helper"]]
