"""No module of asynctool imports one that imports it back (issue 17's "imports run one way").

Read from the source, as the README's Development map draws it: the imports a module makes when
it is imported (not those under `TYPE_CHECKING`, nor those inside functions, which run later),
and a cycle among them, if any, is named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import asynctool

PACKAGE = Path(asynctool.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_at_import_time(path: Path) -> set[str]:
    """The asynctool modules `path` imports when it is imported."""
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("asynctool"))
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                if not module.startswith("asynctool"):
                    continue
                for alias in node.names:  # `from . import _x` imports the module _x
                    candidate = f"{module}.{alias.name}"
                    if _source_of(candidate) is not None:
                        found.add(candidate)
                    elif node.module is not None:
                        found.add(module)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                if isinstance(node, ast.Try):
                    for handler in node.handlers:
                        visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    found.discard(_module_name(path))
    return found


def _source_of(module: str) -> Path | None:
    relative = Path(*module.split("."))
    for candidate in (relative.with_suffix(".py"), relative / "__init__.py"):
        if (PACKAGE.parent / candidate).exists():
            return PACKAGE.parent / candidate
    return None


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in `graph` (as the modules on it, the first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := walk(target)) is not None:
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := walk(module)) is not None:
            return found
    return None


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = {_module_name(path): _imported_at_import_time(path) for path in PACKAGE.rglob("*.py")}
    assert len(graph) > 40
    assert _cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
