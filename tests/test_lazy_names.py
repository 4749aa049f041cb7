"""`asynctool/__init__.py` writes each lazily imported name twice: in `_LAZY`, which the import
machinery reads, and in the `TYPE_CHECKING` block, which type checkers read (they cannot run
`__getattr__`). The two must name the same things from the same modules."""

from __future__ import annotations

import ast
from pathlib import Path

import asynctool

SOURCE = Path(asynctool.__file__).read_text(encoding="utf-8")


def _type_checking_imports() -> dict[str, str]:
    """`name -> module` of the imports under `if _typing.TYPE_CHECKING:`."""
    for node in ast.parse(SOURCE).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return {
                alias.asname or alias.name: stmt.module
                for stmt in node.body
                if isinstance(stmt, ast.ImportFrom) and stmt.module
                for alias in stmt.names
            }
    raise AssertionError("no TYPE_CHECKING block in asynctool/__init__.py")


def test_the_lazy_table_and_the_type_checking_imports_agree() -> None:
    assert _type_checking_imports() == asynctool._LAZY


def test_every_lazy_name_is_defined_by_the_module_the_table_names() -> None:
    aliases = {"AgentEvent"}  # a union: it has no module of its own
    wrong = {
        name: getattr(asynctool, name).__module__
        for name, module in asynctool._LAZY.items()
        if name not in aliases and getattr(asynctool, name).__module__ != f"asynctool.{module}"
    }
    assert wrong == {}
